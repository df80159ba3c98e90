"""What ships: the protos and generated code, the dependency window, the examples."""

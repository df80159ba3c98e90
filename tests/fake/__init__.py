"""The bundled fake gateway itself: its RPCs over the raw stubs, its modes, where it listens, its pytest fixture, its state directory."""

"""The test suite: a package, so that pytest imports every test module by its
dotted name (``tests.calls.test_clients``) from the directory above ``tests/``,
whether that is the repository or tools/matrix.py's copy of the suite."""

"""The fund itself and its versioned policy parameters: importable by every domain."""

"""Built-in sources. Each module is a plugin registering its Source class."""

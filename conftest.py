pytest_plugins = ["syndicator.testing"]

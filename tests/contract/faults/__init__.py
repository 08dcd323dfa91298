"""A fault-injecting proxy between the contract kit and the sandbox: every check must be able to fail."""

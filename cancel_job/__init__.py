"""Cancel Azure Digital Twins import jobs: the core, free of the Functions runtime."""

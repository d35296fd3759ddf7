"""A run's life: prepare data, model and method; run and resume; checkpoint files and run folders; sinks."""

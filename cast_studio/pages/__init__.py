"""The studio's pages: Data, Experiment, Monitor, History."""

"""Tools around the service: `summarizer eval`, `bench` and `batch`, and starting servers as child processes."""

"""Private RabbitMQ and Redis servers on this machine, for `livescore dev`, the benchmarks and the tests."""

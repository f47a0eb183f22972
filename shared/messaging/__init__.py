"""RabbitMQ messaging: topology, publishing with confirms, consuming, request/reply."""

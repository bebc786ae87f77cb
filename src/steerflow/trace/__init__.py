"""steerflow trace: one packet's path across every chassis in the model's terms, and detrace."""

"""Durable tasks: tool calls that run for minutes, survive their replica, and can be cancelled from anywhere."""

"""mien: perceived facial expression."""

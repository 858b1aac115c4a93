"""golang layer."""

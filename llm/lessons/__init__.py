"""What the tabs teach, without Gradio: JSON as it streams, chains and their events, tool calls, and
branching from another token."""

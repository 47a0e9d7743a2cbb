"""Where answers come from: settings, the chat model they ask for (OpenAI-compatible, or the bundled model
in its own process), and fitting a conversation into its context window."""

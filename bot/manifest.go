package bot

// The Slack events the adapter handles and the bot scopes its Web API
// calls need; slack/manifest.yaml must ask for exactly these (a test
// checks).
var (
	// Events are the Events API subscriptions.
	Events = []string{"app_mention", "assistant_thread_started", "message.im"}
	// Scopes are the bot token scopes:
	//   - app_mentions:read for app_mention;
	//   - assistant:write for assistant_thread_started and
	//     assistant.threads.setSuggestedPrompts;
	//   - chat:write for chat.postMessage, chat.update, chat.postEphemeral
	//     and assistant.threads.setStatus;
	//   - commands for /fleet;
	//   - im:history for message.im.
	Scopes = []string{"app_mentions:read", "assistant:write", "chat:write", "commands", "im:history"}
	// Commands are the slash commands.
	Commands = []string{"/fleet"}
)

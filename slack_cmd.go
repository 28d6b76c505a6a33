package main

import (
	"github.com/watchtower-fleet/watchtower/bot"
	"github.com/watchtower-fleet/watchtower/notify"
	"github.com/watchtower-fleet/watchtower/tools"
)

// newSlack builds the Socket Mode bot when both Slack tokens are set (nil
// otherwise).
func newSlack(a *app) *bot.Slack {
	cfg := a.cfg
	if cfg.SlackBotToken == "" || cfg.SlackAppToken == "" {
		return nil
	}
	if cfg.OpenAIAPIKey == "" && cfg.OpenAIBaseURL == "" {
		a.logger.Warn("no model configured (OPENAI_API_KEY): the bot answers /fleet commands and what the grammar can place")
	}
	return bot.NewSlack(bot.SlackConfig{BotToken: cfg.SlackBotToken, AppToken: cfg.SlackAppToken, APIURL: cfg.SlackAPIURL,
		AlertChannel: cfg.SlackAlertChannel, NotifyStream: notify.Stream, Zone: cfg.ReportTimezone, Admins: cfg.Admins},
		a.router(), tools.NewRoles(cfg.Admins, a.db), a.rdb, a.logger)
}

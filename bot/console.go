package bot

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/chzyer/readline"

	"github.com/watchtower-fleet/watchtower/tools"
)

// Console runs the router on a terminal, or line by line on a pipe:
// `echo "/fleet where T11985LA" | watchtower console`.
type Console struct {
	Router *Router
	Caller tools.Caller
	In     io.Reader
	Out    io.Writer
	// Interactive gives line editing, history and a prompt.
	Interactive bool
	// HistoryFile keeps the interactive history between runs ("" for none).
	HistoryFile string
	// Alerts, when set, are shown as they come (interactive only, so that a
	// piped transcript stays the answers to what was typed).
	Alerts <-chan string
}

// Run reads until EOF, "quit" or ctx ends.
func (c *Console) Run(ctx context.Context) error {
	var next func() (string, error)
	if c.Interactive {
		rl, err := readline.NewEx(&readline.Config{Prompt: "watchtower> ", HistoryFile: c.HistoryFile,
			Stdin: io.NopCloser(c.In), Stdout: c.Out, InterruptPrompt: "^C", EOFPrompt: "quit"})
		if err != nil {
			return fmt.Errorf("console: %w", err)
		}
		defer rl.Close()
		go func() { <-ctx.Done(); rl.Close() }()
		if c.Alerts != nil {
			go func() {
				for {
					select {
					case line := <-c.Alerts:
						fmt.Fprintln(rl.Stdout(), line)
					case <-ctx.Done():
						return
					}
				}
			}()
		}
		next = rl.Readline
		fmt.Fprintf(c.Out, "Watch Tower console, as %s (%s). Type help, a /fleet command or a question; a number presses a button; quit ends.\n", c.Caller.Name, c.Caller.Role)
	} else {
		sc := bufio.NewScanner(c.In)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		next = func() (string, error) {
			if !sc.Scan() {
				if err := sc.Err(); err != nil {
					return "", err
				}
				return "", io.EOF
			}
			return sc.Text(), nil
		}
	}
	var buttons []tools.Button
	thread := "console:" + c.Caller.ID + ":" + tools.NewCorrelationID()
	for ctx.Err() == nil {
		line, err := next()
		if errors.Is(err, readline.ErrInterrupt) {
			continue
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		line = strings.TrimSpace(line)
		switch strings.ToLower(line) {
		case "":
			continue
		case "quit", "exit":
			return nil
		}
		var reply tools.Reply
		if n, err := strconv.Atoi(line); err == nil && len(line) <= 2 && (n < 1 || n > len(buttons)) {
			fmt.Fprintf(c.Out, "There is no button %d.\n", n)
			continue
		}
		if b, ok := pressed(line, buttons); ok {
			reply = c.Router.Press(ctx, c.Caller, b)
		} else {
			var progress func(tools.Progress)
			if c.Interactive {
				progress = func(p tools.Progress) {
					if p.Kind == tools.ProgressTool {
						fmt.Fprintf(c.Out, "  … %s\n", p.Tool)
					}
				}
			}
			reply = c.Router.Handle(ctx, Message{Caller: c.Caller, Thread: thread, Text: line}, progress)
		}
		out, shown := Text(reply)
		// A failed answer leaves the last card standing: its buttons can
		// still be pressed.
		if len(shown) > 0 || !reply.Failed {
			buttons = shown
		}
		fmt.Fprintln(c.Out, strings.TrimRight(out, "\n"))
	}
	return nil
}

// pressed matches a typed line to one of the last reply's buttons, by
// number or label.
func pressed(line string, buttons []tools.Button) (tools.Button, bool) {
	if n, err := strconv.Atoi(line); err == nil && n >= 1 && n <= len(buttons) {
		return buttons[n-1], true
	}
	for _, b := range buttons {
		if strings.EqualFold(line, b.Label) {
			return b, true
		}
	}
	return tools.Button{}, false
}

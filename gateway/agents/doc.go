// Package agents holds the AI agents a conversation can have and the
// registry that picks one per workspace and channel account.
//
// The agents are the built-in rules agent (greeting, keyword answers,
// otherwise a handoff), an OpenAI-compatible chat-completions client (with
// tool calls or a JSON reply format) and a signed business webhook. Each
// implements ports.Agent and is called from the runtime's bounded agent
// pool, never from a conversation actor (docs/ARCHITECTURE.md, invariant
// 5). The Registry owns the agent settings: it keeps them in memory,
// writes them through to the store and is the runtime's
// ports.AgentResolver.
package agents

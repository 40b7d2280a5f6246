// Command bare-fiber is the baseline for Parley's webhook benchmark: a
// Fiber server whose only handler reads the request body and answers 200.
// It runs the same way as parley (a separate process on 127.0.0.1), so
// the ratio between them is what Parley's ingest costs on top of HTTP.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"

	"github.com/gofiber/fiber/v2"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	flag.Parse()
	app := fiber.New(fiber.Config{DisableStartupMessage: true, BodyLimit: 8 << 20})
	app.Post("/*", func(c *fiber.Ctx) error {
		_ = c.Body()
		return c.SendStatus(fiber.StatusOK)
	})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("listening on %s\n", ln.Addr())
	if err := app.Listener(ln); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

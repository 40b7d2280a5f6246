package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"github.com/gofiber/fiber/v2"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	dir := flag.String("pebble", "", "write each body to a Pebble store in this directory, with fsync")
	flag.Parse()
	app := fiber.New(fiber.Config{DisableStartupMessage: true, BodyLimit: 8 << 20})
	if *dir == "" {
		app.Post("/*", func(c *fiber.Ctx) error {
			_ = c.Body()
			return c.SendStatus(fiber.StatusOK)
		})
	} else {
		db, err := pebble.Open(*dir, &pebble.Options{MemTableSize: 64 << 20})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer db.Close()
		var n atomic.Uint64
		app.Post("/*", func(c *fiber.Ctx) error {
			k := fmt.Appendf(nil, "m%016x", n.Add(1))
			if err := db.Set(k, c.Body(), pebble.Sync); err != nil {
				return err
			}
			return c.SendStatus(fiber.StatusOK)
		})
	}
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

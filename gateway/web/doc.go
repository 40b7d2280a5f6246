// Package web is the inbox web app: plain HTML, CSS and JavaScript
// modules embedded in the binary and served by the gateway at "/". It has
// no build step and fetches nothing from outside at run time; it speaks
// only the public REST API and the WebSocket under /api/v1.
package web

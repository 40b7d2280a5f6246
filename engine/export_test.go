package engine

// HeaderEqual exposes headerEqual to the external tests.
var HeaderEqual = headerEqual

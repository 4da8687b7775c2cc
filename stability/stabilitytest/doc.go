// Package stabilitytest helps test code that uses package stability: it
// mints a certificate authority and node certificates in memory.
package stabilitytest

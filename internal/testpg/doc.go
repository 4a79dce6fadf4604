// Package testpg gives tests a real, throwaway PostgreSQL server: Debian's
// postgresql binaries (/usr/lib/postgresql/*/bin), initialised in a
// temporary directory, listening on a free loopback port with its unix
// socket in that directory, and trusting local connections (no password).
//
// One server is shared by a test binary (Start), started on first use and
// stopped by Main after the tests; each test takes a fresh database of its
// own (CreateDB). A test that stops and restarts a server takes one of its
// own (StartPrivate), stopped at its cleanup.
//
// The server always stops with the test binary: postgres runs as a child
// whose parent-death signal is SIGQUIT (immediate shutdown), started from a
// thread that lives until the server is stopped, so a panic, a test timeout
// or a kill of the binary takes the server down too. Data directories left
// by a binary that died are removed by the next one.
//
// Environment:
//   - PRISM_TEST_PG_URL: use that server (postgres://user@host:port/db, a
//     role that may CREATE DATABASE) instead of starting one; StartPrivate
//     still needs the binaries.
//   - CI=true: missing binaries fail the test instead of skipping it.
//
// As root, initdb and postgres run as the postgres user (the server refuses
// root). testpg is for tests only and talks to loopback only.
package testpg

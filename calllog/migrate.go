package calllog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// migration is one embedded schema step.
type migration struct {
	version int
	name    string
	sql     string
}

// parseMigrationName reads the version from a file name such as
// "0001_init.sql". Versions start at 1.
func parseMigrationName(name string) (int, error) {
	base, ok := strings.CutSuffix(name, ".sql")
	if !ok {
		return 0, fmt.Errorf("migration %q: not a .sql file", name)
	}
	num, _, _ := strings.Cut(base, "_")
	v, err := strconv.Atoi(num)
	if err != nil || v < 1 || num == "" || num[0] == '+' || num[0] == '-' {
		return 0, fmt.Errorf("migration %q: name must start with a positive version number", name)
	}
	return v, nil
}

// loadMigrations returns the dialect's migrations in version order and
// checks that the versions run 1, 2, 3, ... without gaps, so a missing file
// cannot silently skip a schema step.
func loadMigrations(d *dialect) ([]migration, error) {
	entries, err := fs.ReadDir(d.migrations, d.migrationsDir)
	if err != nil {
		return nil, fmt.Errorf("calllog: read migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		v, err := parseMigrationName(e.Name())
		if err != nil {
			return nil, fmt.Errorf("calllog: %w", err)
		}
		body, err := fs.ReadFile(d.migrations, path.Join(d.migrationsDir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("calllog: read migration %s: %w", e.Name(), err)
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("calllog: migration %s: expected version %d", m.name, i+1)
		}
	}
	return ms, nil
}

// latestVersion is the schema version this build's migrations produce.
func latestVersion(d *dialect) (int, error) {
	ms, err := loadMigrations(d)
	if err != nil {
		return 0, err
	}
	return len(ms), nil
}

// migrate brings the schema up to the latest version in one transaction, so
// a failure leaves the database as it was. It returns how many migrations it
// applied. A database written by a newer build is refused rather than
// written to with a schema this build does not understand.
func migrate(ctx context.Context, conn *sql.Conn, d *dialect) (applied int, err error) {
	ms, err := loadMigrations(d)
	if err != nil {
		return 0, err
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("calllog: migrate: begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if _, err = tx.ExecContext(ctx, d.createVersionTable); err != nil {
		return 0, fmt.Errorf("calllog: migrate: create schema_version: %w", err)
	}
	current := 0
	switch err = tx.QueryRowContext(ctx, d.selectVersion).Scan(&current); {
	case errors.Is(err, sql.ErrNoRows):
		if _, err = tx.ExecContext(ctx, d.insertVersion, 0); err != nil {
			return 0, fmt.Errorf("calllog: migrate: init schema_version: %w", err)
		}
	case err != nil:
		return 0, fmt.Errorf("calllog: migrate: read schema_version: %w", err)
	}
	if current > len(ms) {
		err = fmt.Errorf("%w: database is at version %d, this build knows up to %d; upgrade hotline",
			ErrSchemaVersion, current, len(ms))
		return 0, err
	}
	for _, m := range ms[current:] {
		if _, err = tx.ExecContext(ctx, m.sql); err != nil {
			return 0, fmt.Errorf("calllog: migration %s: %w", m.name, err)
		}
		applied++
	}
	if applied > 0 {
		if _, err = tx.ExecContext(ctx, d.updateVersion, len(ms)); err != nil {
			return 0, fmt.Errorf("calllog: migrate: set schema_version: %w", err)
		}
	}
	if err = tx.Commit(); err != nil {
		return 0, fmt.Errorf("calllog: migrate: commit: %w", err)
	}
	return applied, nil
}

// checkVersion verifies, without writing, that the database is at exactly
// the version this build reads.
func checkVersion(ctx context.Context, db *sql.DB, d *dialect) error {
	want, err := latestVersion(d)
	if err != nil {
		return err
	}
	var have int
	if err := db.QueryRowContext(ctx, d.selectVersion).Scan(&have); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: schema_version is empty", ErrSchemaVersion)
		}
		return fmt.Errorf("calllog: read schema_version (is this a hotline call database?): %w", err)
	}
	switch {
	case have > want:
		return fmt.Errorf("%w: database is at version %d, this build knows up to %d; upgrade hotline",
			ErrSchemaVersion, have, want)
	case have < want:
		return fmt.Errorf("%w: database is at version %d, this build reads %d; start the server once to migrate it",
			ErrSchemaVersion, have, want)
	}
	return nil
}

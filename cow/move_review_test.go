package cow

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/holeycow/holeycow/vfs"
)

// TestMoveReview_heldNumberReusedAtFollowedPath: a writer fenced between
// a hold's round and its move leaves copiers told of number 1 for f; the
// next writer gives number 1 to the file that the copiers follow (renamed
// g to h by the first writer), whose path they read no file at. The
// copiers must take f whole before the number is reused, never read the
// followed file in f's place.
func TestMoveReview_heldNumberReusedAtFollowedPath(t *testing.T) {
	raw, w, cs := holdSetup(t, Options{BlockSize: 512, HoldRemoved: true})
	oldF, oldG := fill(1500, 'F'), fill(900, 'G')
	require.NoError(t, vfs.WriteFile(w, "g", oldG, 0o644))
	writeReset(t, w, cs, "f", oldF)
	require.NoError(t, w.Rename("g", "h"))
	for _, c := range cs {
		require.True(t, c.follows("h"))
	}
	w.SetGuard(func(context.Context) error { return errors.New("fenced") })
	require.Error(t, w.Remove("f"))
	d := NewDirect()
	for _, c := range cs {
		d.Add(c)
	}
	w2, err := NewWriter(raw, d, Options{BlockSize: 512, HoldRemoved: true})
	require.NoError(t, err)
	require.NoError(t, w2.Remove("h"))
	_, err = raw.Stat(HeldPath(1))
	require.NoError(t, err, "the next writer gave number 1 to h")
	requireReads(t, cs, map[string][]byte{"f": oldF, "g": oldG, "h": nil})
}

// TestMoveReview_heldNumberReusedAtUnreadPath: the same with no follower:
// the next writer gives number 1 to a file that the copiers do not read
// from shared storage (each truncated its own g to nothing), so no node
// at g is told of the hold.
func TestMoveReview_heldNumberReusedAtUnreadPath(t *testing.T) {
	raw, w, cs := holdSetup(t, Options{BlockSize: 512, HoldRemoved: true})
	oldF := fill(1500, 'F')
	require.NoError(t, vfs.WriteFile(w, "g", fill(900, 'G'), 0o644))
	writeReset(t, w, cs, "f", oldF)
	for _, c := range cs {
		f, err := c.Open("g", os.O_RDWR|os.O_TRUNC, 0)
		require.NoError(t, err)
		require.NoError(t, f.Close())
	}
	w.SetGuard(func(context.Context) error { return errors.New("fenced") })
	require.Error(t, w.Remove("f"))
	d := NewDirect()
	for _, c := range cs {
		d.Add(c)
	}
	w2, err := NewWriter(raw, d, Options{BlockSize: 512, HoldRemoved: true})
	require.NoError(t, err)
	require.NoError(t, w2.Remove("g"))
	_, err = raw.Stat(HeldPath(1))
	require.NoError(t, err, "the next writer gave number 1 to g")
	requireReads(t, cs, map[string][]byte{"f": oldF, "g": {}})
}

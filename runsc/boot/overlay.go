package boot

import (
	"fmt"

	"github.com/veil-sandbox/veil/sentry/fs/overlay"
	"github.com/veil-sandbox/veil/sentry/fs/tmpfs"
	"github.com/veil-sandbox/veil/sentry/memfile"
	"github.com/veil-sandbox/veil/sentry/vfs"
)

// mountRoot mounts the container root served by the gofer (root) as the
// VFS root. With spec.Overlay it mounts an overlay instead: a tmpfs in
// Sentry memory takes every write, so the root is writable even when
// spec.RootReadOnly (which then only keeps the gofer read-only) and the
// host's files are never modified.
func mountRoot(ctx vfs.Context, v *vfs.VirtualFilesystem, mf *memfile.File, spec Spec, root vfs.Inode) error {
	if !spec.Overlay {
		if err := v.MountRoot(ctx, root, vfs.MountOptions{ReadOnly: spec.RootReadOnly, FSType: "9p", Source: "gofer"}); err != nil {
			return fmt.Errorf("mounting root: %w", err)
		}
		return nil
	}
	ov, err := overlay.New(ctx, tmpfs.New(mf, tmpfs.Options{}).Root(), root)
	if err != nil {
		return fmt.Errorf("root overlay: %w", err)
	}
	if err := v.MountRoot(ctx, ov.Root(), vfs.MountOptions{FSType: "overlay", Source: "overlay"}); err != nil {
		return fmt.Errorf("mounting the root overlay: %w", err)
	}
	return nil
}

package boot

import (
	"fmt"

	"github.com/veil-sandbox/veil/sentry/fs/overlay"
	"github.com/veil-sandbox/veil/sentry/fs/tmpfs"
	"github.com/veil-sandbox/veil/sentry/memfile"
	"github.com/veil-sandbox/veil/sentry/vfs"
)

// mountRoot mounts the container root served by the gofer (root) as the
// VFS root, read-only if readOnly. withOverlay mounts an overlay
// instead: a tmpfs in Sentry memory takes every write, so the root is
// writable even when readOnly (which then only applies to the gofer) and
// the host's files are never modified.
func mountRoot(ctx vfs.Context, v *vfs.VirtualFilesystem, mf *memfile.File, root vfs.Inode, readOnly, withOverlay bool) error {
	if !withOverlay {
		if err := v.MountRoot(ctx, root, vfs.MountOptions{ReadOnly: readOnly, FSType: "9p", Source: "gofer"}); err != nil {
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

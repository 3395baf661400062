package tests

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// The engine tests cannot pull images (the network is closed), so they build
// one from Debian's static busybox: a plain rootfs tar for `docker import` and
// `podman import`, and an OCI image layout archive for `ctr image import`.

const (
	// imageRef is the name every engine knows the test image by.
	imageRef = "docker.io/veil/busybox:latest"
	// imagePath is the PATH of the image config (docker and podman add the
	// same default to imported images, which have no config).
	imagePath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
)

// testImage is the busybox image, built once per test binary run.
type testImage struct {
	rootfsTar  string // plain tar of the root file system
	ociArchive string // OCI image layout, as a tar
}

var (
	imageOnce  sync.Once
	imageBuilt testImage
	imageErr   error
)

// busyboxImage returns the test image, building it on first use.
func busyboxImage() (testImage, error) {
	imageOnce.Do(func() {
		imageBuilt, imageErr = buildBusyboxImage(filepath.Join(workDir, "image"))
		if imageErr != nil {
			imageErr = fmt.Errorf("building the busybox test image: %v", imageErr)
		}
	})
	return imageBuilt, imageErr
}

// tarWriter adds entries with fixed owners and times, so the layer (and so
// the image digest) is the same on every run.
type tarWriter struct{ *tar.Writer }

var epoch = time.Unix(1700000000, 0)

func (w tarWriter) dir(name string, mode int64) error {
	return w.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, ModTime: epoch, Format: tar.FormatPAX})
}

func (w tarWriter) file(name string, mode int64, data []byte) error {
	if err := w.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: epoch, Format: tar.FormatPAX}); err != nil {
		return err
	}
	_, err := w.Write(data)
	return err
}

func (w tarWriter) symlink(name, target string) error {
	return w.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777, ModTime: epoch, Format: tar.FormatPAX})
}

// busyboxRootfs returns the root file system as an uncompressed tar: busybox
// with a symlink in /bin for each of its applets, /etc/passwd and /etc/group,
// and the empty directories the runtimes mount over.
func busyboxRootfs() ([]byte, error) {
	bin, err := os.ReadFile(busybox)
	if err != nil {
		return nil, err
	}
	out, err := exec.Command(busybox, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("%s --list: %v", busybox, err)
	}
	var buf bytes.Buffer
	w := tarWriter{tar.NewWriter(&buf)}
	for _, d := range []struct {
		name string
		mode int64
	}{{"bin", 0o755}, {"dev", 0o755}, {"etc", 0o755}, {"proc", 0o555}, {"root", 0o700},
		{"run", 0o755}, {"sys", 0o555}, {"tmp", 0o1777}, {"var", 0o755}, {"data", 0o755}} {
		if err := w.dir(d.name, d.mode); err != nil {
			return nil, err
		}
	}
	if err := w.file("bin/busybox", 0o755, bin); err != nil {
		return nil, err
	}
	for _, applet := range strings.Fields(string(out)) {
		if applet == "busybox" || strings.Contains(applet, "/") {
			continue
		}
		if err := w.symlink("bin/"+applet, "busybox"); err != nil {
			return nil, err
		}
	}
	files := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
		"etc/group":  "root:x:0:\nnogroup:x:65534:\n",
	}
	for _, name := range []string{"etc/group", "etc/passwd"} {
		if err := w.file(name, 0o644, []byte(files[name])); err != nil {
			return nil, err
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ociDescriptor is an OCI content descriptor.
type ociDescriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int               `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// ociLayout packs the rootfs as a one-layer OCI image layout archive whose
// index names the manifest imageRef.
func ociLayout(rootfs []byte) ([]byte, error) {
	return ociLayoutOf(rootfs, imageRef, []string{"sh"})
}

// ociLayoutOf is ociLayout for image ref with command cmd.
func ociLayoutOf(rootfs []byte, ref string, cmd []string) ([]byte, error) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	if _, err := zw.Write(rootfs); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	layer := gz.Bytes()

	config, err := json.Marshal(map[string]any{
		"created":      epoch.UTC().Format(time.RFC3339),
		"architecture": "amd64",
		"os":           "linux",
		"config":       map[string]any{"Env": []string{imagePath}, "Cmd": cmd},
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{digestOf(rootfs)}},
		"history":      []map[string]any{{"created": epoch.UTC().Format(time.RFC3339), "created_by": "veil tests: busybox-static"}},
	})
	if err != nil {
		return nil, err
	}
	manifest, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        ociDescriptor{MediaType: "application/vnd.oci.image.config.v1+json", Digest: digestOf(config), Size: len(config)},
		"layers":        []ociDescriptor{{MediaType: "application/vnd.oci.image.layer.v1.tar+gzip", Digest: digestOf(layer), Size: len(layer)}},
	})
	if err != nil {
		return nil, err
	}
	index, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.index.v1+json",
		"manifests": []ociDescriptor{{
			MediaType:   "application/vnd.oci.image.manifest.v1+json",
			Digest:      digestOf(manifest),
			Size:        len(manifest),
			Annotations: map[string]string{"org.opencontainers.image.ref.name": ref},
		}},
	})
	if err != nil {
		return nil, err
	}

	var buf bytes.Buffer
	w := tarWriter{tar.NewWriter(&buf)}
	for _, d := range []string{"blobs", "blobs/sha256"} {
		if err := w.dir(d, 0o755); err != nil {
			return nil, err
		}
	}
	if err := w.file("oci-layout", 0o644, []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return nil, err
	}
	if err := w.file("index.json", 0o644, index); err != nil {
		return nil, err
	}
	for _, blob := range [][]byte{layer, config, manifest} {
		if err := w.file("blobs/sha256/"+strings.TrimPrefix(digestOf(blob), "sha256:"), 0o644, blob); err != nil {
			return nil, err
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func buildBusyboxImage(dir string) (testImage, error) {
	img := testImage{
		rootfsTar:  filepath.Join(dir, "busybox-rootfs.tar"),
		ociArchive: filepath.Join(dir, "busybox-oci.tar"),
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return img, err
	}
	rootfs, err := busyboxRootfs()
	if err != nil {
		return img, err
	}
	oci, err := ociLayout(rootfs)
	if err != nil {
		return img, err
	}
	if err := os.WriteFile(img.rootfsTar, rootfs, 0o644); err != nil {
		return img, err
	}
	return img, os.WriteFile(img.ociArchive, oci, 0o644)
}

// Command mkimage assembles an OCI image archive from directories, without a container engine.
//
//	mkimage --ref NAME:TAG --out FILE.tar [--layer DIR]... [--entrypoint JSON-ARRAY] [--cmd JSON-ARRAY]
//	        [--env K=V]... [--user UID[:GID]] [--workdir DIR] [--label K=V]... [--chown UID:GID]
//
// Each --layer DIR becomes one layer whose root is DIR. The output is an oci-layout tar (oci-layout, index.json,
// blobs/sha256/...) that `ctr images import` loads under NAME:TAG: the index's manifest descriptor carries the
// normalized reference in `io.containerd.image.name` (which containerd uses verbatim) and the tag in
// `org.opencontainers.image.ref.name` (the OCI convention, as containerd's own export writes it).
//
// The archive is reproducible: entries are sorted, every timestamp is SOURCE_DATE_EPOCH (default 0), user and
// group names, access/change times and extended attributes are dropped; numeric owners are kept as they are in
// the directory unless --chown overrides them for every layer. Same inputs give the same manifest digest, which
// is printed on stdout.
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

const usage = `usage: mkimage --ref NAME:TAG --out FILE.tar [--layer DIR]... [--entrypoint JSON-ARRAY] [--cmd JSON-ARRAY]
               [--env K=V]... [--user UID[:GID]] [--workdir DIR] [--label K=V]... [--chown UID:GID]
Writes an OCI image archive (oci-layout tar) and prints its manifest digest.
  --ref         image reference; stored as io.containerd.image.name (normalized) and ref.name (the tag)
  --layer DIR   one layer per directory, in order; DIR is the image's root for that layer
  --entrypoint, --cmd   JSON arrays of strings, e.g. '["/usr/bin/node","main.js"]'
  --env K=V     repeatable; PATH defaults to the usual Debian PATH when not given
  --chown U:G   numeric owner for every entry of every layer (default: as in the directory)
  SOURCE_DATE_EPOCH   timestamp of every entry and of the image (default 0)`

type options struct {
	ref        string
	out        string
	layers     []string
	entrypoint []string
	cmd        []string
	env        []string
	user       string
	workdir    string
	labels     map[string]string
	chown      *owner
}

type owner struct{ uid, gid int }

func main() {
	opts, err := parseArgs(os.Args[1:])
	if errors.Is(err, errHelp) {
		fmt.Println(usage)
		return
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "mkimage: %v\n%s\n", err, usage)
		os.Exit(2)
	}
	digest, err := build(opts)
	if err != nil {
		fmt.Fprintf(os.Stderr, "mkimage: %v\n", err)
		os.Exit(1)
	}
	fmt.Println(digest)
}

var errHelp = errors.New("help")

func parseArgs(args []string) (*options, error) {
	o := &options{labels: map[string]string{}}
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "-h" || arg == "--help" {
			return nil, errHelp
		}
		key, val, hasVal := strings.Cut(arg, "=")
		if !strings.HasPrefix(key, "--") {
			return nil, fmt.Errorf("unexpected argument %q", arg)
		}
		if !hasVal {
			if i+1 >= len(args) {
				return nil, fmt.Errorf("%s needs a value", key)
			}
			i++
			val = args[i]
		}
		var err error
		switch key {
		case "--ref":
			o.ref = val
		case "--out":
			o.out = val
		case "--layer":
			o.layers = append(o.layers, val)
		case "--entrypoint":
			o.entrypoint, err = jsonArray(key, val)
		case "--cmd":
			o.cmd, err = jsonArray(key, val)
		case "--env":
			if k, _, ok := strings.Cut(val, "="); !ok || k == "" {
				err = fmt.Errorf("--env %q: want K=V", val)
			}
			o.env = append(o.env, val)
		case "--user":
			o.user = val
		case "--workdir":
			o.workdir = val
		case "--label":
			k, v, ok := strings.Cut(val, "=")
			if !ok || k == "" {
				err = fmt.Errorf("--label %q: want K=V", val)
			}
			o.labels[k] = v
		case "--chown":
			o.chown, err = parseOwner(val)
		default:
			err = fmt.Errorf("unknown flag %s", key)
		}
		if err != nil {
			return nil, err
		}
	}
	if o.ref == "" || o.out == "" {
		return nil, errors.New("--ref and --out are required")
	}
	return o, nil
}

func jsonArray(flag, val string) ([]string, error) {
	var out []string
	if err := json.Unmarshal([]byte(val), &out); err != nil {
		return nil, fmt.Errorf("%s %q: want a JSON array of strings", flag, val)
	}
	return out, nil
}

func parseOwner(val string) (*owner, error) {
	u, g, ok := strings.Cut(val, ":")
	uid, err1 := strconv.Atoi(u)
	gid, err2 := strconv.Atoi(g)
	if !ok || err1 != nil || err2 != nil || uid < 0 || gid < 0 {
		return nil, fmt.Errorf("--chown %q: want numeric UID:GID", val)
	}
	return &owner{uid, gid}, nil
}

// normalizeRef turns NAME:TAG into the fully qualified form container runtimes look images up by
// (docker.io/library/ for bare names), and returns it with its tag.
func normalizeRef(ref string) (string, string, error) {
	last := ref[strings.LastIndex(ref, "/")+1:]
	if !strings.Contains(last, ":") || strings.Contains(ref, "@") {
		return "", "", fmt.Errorf("--ref %q: want NAME:TAG (an explicit tag, no digest)", ref)
	}
	tag, err := name.NewTag(ref)
	if err != nil {
		return "", "", fmt.Errorf("--ref %q: %v", ref, err)
	}
	repo := strings.TrimSuffix(ref, ":"+tag.TagStr())
	first, _, hasSlash := strings.Cut(repo, "/")
	if !hasSlash || (!strings.ContainsAny(first, ".:") && first != "localhost") {
		if !hasSlash {
			repo = "library/" + repo
		}
		repo = "docker.io/" + repo
	}
	return repo + ":" + tag.TagStr(), tag.TagStr(), nil
}

func sourceDateEpoch() (time.Time, error) {
	s := os.Getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH %q is not a non-negative integer", s)
	}
	return time.Unix(n, 0).UTC(), nil
}

func build(o *options) (string, error) {
	fullRef, tagStr, err := normalizeRef(o.ref)
	if err != nil {
		return "", err
	}
	epoch, err := sourceDateEpoch()
	if err != nil {
		return "", err
	}
	outDir := filepath.Dir(o.out)
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return "", err
	}
	tmpDir, err := os.MkdirTemp(outDir, ".mkimage-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmpDir)

	cfg := &v1.ConfigFile{
		Architecture: runtime.GOARCH,
		OS:           "linux",
		Created:      v1.Time{Time: epoch},
		RootFS:       v1.RootFS{Type: "layers"},
		Config: v1.Config{
			Entrypoint: o.entrypoint,
			Cmd:        o.cmd,
			Env:        withDefaultPath(o.env),
			User:       o.user,
			WorkingDir: o.workdir,
		},
	}
	if len(o.labels) > 0 {
		cfg.Config.Labels = o.labels
	}
	img, err := mutate.ConfigFile(empty.Image, cfg)
	if err != nil {
		return "", err
	}
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)

	adds := make([]mutate.Addendum, 0, len(o.layers))
	for i, dir := range o.layers {
		file := filepath.Join(tmpDir, fmt.Sprintf("layer-%d.tar.gz", i))
		if err := writeLayer(dir, file, epoch, o.chown); err != nil {
			return "", fmt.Errorf("layer %s: %w", dir, err)
		}
		layer, err := tarball.LayerFromFile(file, tarball.WithMediaType(types.OCILayer))
		if err != nil {
			return "", fmt.Errorf("layer %s: %w", dir, err)
		}
		adds = append(adds, mutate.Addendum{
			Layer:     layer,
			MediaType: types.OCILayer,
			History:   v1.History{Created: v1.Time{Time: epoch}, CreatedBy: fmt.Sprintf("mkimage layer %d", i)},
		})
	}
	img, err = mutate.Append(img, adds...)
	if err != nil {
		return "", err
	}
	return writeArchive(img, o.out, tmpDir, fullRef, tagStr, epoch)
}

func withDefaultPath(env []string) []string {
	for _, e := range env {
		if strings.HasPrefix(e, "PATH=") {
			return env
		}
	}
	return append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, env...)
}

type inode struct{ dev, ino uint64 }

// writeLayer writes DIR as a gzip-compressed tar with sorted entries and normalized metadata.
func writeLayer(dir, file string, epoch time.Time, chown *owner) (err error) {
	st, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return errors.New("not a directory")
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	zw, err := gzip.NewWriterLevel(f, gzip.BestSpeed)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(zw)
	links := map[inode]string{}
	// WalkDir visits entries in lexical order, so the archive's order depends on names only.
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil || rel == "." {
			return err
		}
		info, err := os.Lstat(path)
		if err != nil {
			return err
		}
		target := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			if target, err = os.Readlink(path); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(info, target)
		if err != nil {
			return fmt.Errorf("%s: %w", rel, err)
		}
		hdr.Name = filepath.ToSlash(rel)
		if info.IsDir() {
			hdr.Name += "/"
		}
		hdr.ModTime, hdr.AccessTime, hdr.ChangeTime = epoch, time.Time{}, time.Time{}
		hdr.Uname, hdr.Gname = "", ""
		hdr.PAXRecords = nil
		hdr.Format = tar.FormatPAX
		if chown != nil {
			hdr.Uid, hdr.Gid = chown.uid, chown.gid
		}
		if sys, ok := info.Sys().(*syscall.Stat_t); ok && info.Mode().IsRegular() && sys.Nlink > 1 {
			key := inode{uint64(sys.Dev), sys.Ino}
			if first, seen := links[key]; seen {
				hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
			} else {
				links[key] = hdr.Name
			}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("%s: %w", rel, err)
		}
		if hdr.Typeflag == tar.TypeReg && hdr.Size > 0 {
			src, err := os.Open(path)
			if err != nil {
				return err
			}
			_, err = io.CopyN(tw, src, hdr.Size)
			src.Close()
			if err != nil {
				return fmt.Errorf("%s: %w (did it change while being read?)", rel, err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return zw.Close()
}

// writeArchive writes the oci-layout tar: oci-layout, index.json and the blobs, sorted, with fixed metadata.
func writeArchive(img v1.Image, out, tmpDir, fullRef, tagStr string, epoch time.Time) (string, error) {
	manifest, err := img.RawManifest()
	if err != nil {
		return "", err
	}
	digest, err := img.Digest()
	if err != nil {
		return "", err
	}
	config, err := img.RawConfigFile()
	if err != nil {
		return "", err
	}
	configName, err := img.ConfigName()
	if err != nil {
		return "", err
	}
	index := v1.IndexManifest{
		SchemaVersion: 2,
		MediaType:     types.OCIImageIndex,
		Manifests: []v1.Descriptor{{
			MediaType: types.OCIManifestSchema1,
			Size:      int64(len(manifest)),
			Digest:    digest,
			Platform:  &v1.Platform{OS: "linux", Architecture: runtime.GOARCH},
			Annotations: map[string]string{
				"io.containerd.image.name":          fullRef,
				"org.opencontainers.image.ref.name": tagStr,
			},
		}},
	}
	indexJSON, err := json.Marshal(index)
	if err != nil {
		return "", err
	}

	type blob struct {
		data   []byte
		layer  v1.Layer
		digest v1.Hash
	}
	blobs := map[string]blob{
		digest.Hex:     {data: manifest, digest: digest},
		configName.Hex: {data: config, digest: configName},
	}
	layers, err := img.Layers()
	if err != nil {
		return "", err
	}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return "", err
		}
		blobs[d.Hex] = blob{layer: l, digest: d}
	}
	names := make([]string, 0, len(blobs))
	for k := range blobs {
		names = append(names, k)
	}
	sort.Strings(names)

	tmp, err := os.CreateTemp(tmpDir, "archive-*.tar")
	if err != nil {
		return "", err
	}
	defer tmp.Close()
	tw := tar.NewWriter(tmp)
	put := func(name string, mode int64, size int64, body io.Reader) error {
		hdr := &tar.Header{Name: name, Mode: mode, Size: size, ModTime: epoch, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		if strings.HasSuffix(name, "/") {
			hdr.Typeflag, hdr.Size = tar.TypeDir, 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if body == nil {
			return nil
		}
		n, err := io.Copy(tw, body)
		if err == nil && n != size {
			err = fmt.Errorf("%s: wrote %d bytes, want %d", name, n, size)
		}
		return err
	}
	layout := []byte(`{"imageLayoutVersion":"1.0.0"}`)
	if err := put("oci-layout", 0o644, int64(len(layout)), bytes.NewReader(layout)); err != nil {
		return "", err
	}
	if err := put("index.json", 0o644, int64(len(indexJSON)), bytes.NewReader(indexJSON)); err != nil {
		return "", err
	}
	for _, dir := range []string{"blobs/", "blobs/sha256/"} {
		if err := put(dir, 0o755, 0, nil); err != nil {
			return "", err
		}
	}
	for _, hex := range names {
		b := blobs[hex]
		path := "blobs/sha256/" + hex
		if b.layer == nil {
			if err := put(path, 0o644, int64(len(b.data)), bytes.NewReader(b.data)); err != nil {
				return "", err
			}
			continue
		}
		size, err := b.layer.Size()
		if err != nil {
			return "", err
		}
		rc, err := b.layer.Compressed()
		if err != nil {
			return "", err
		}
		err = put(path, 0o644, size, rc)
		rc.Close()
		if err != nil {
			return "", err
		}
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return "", err
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return "", err
	}
	return digest.String(), nil
}

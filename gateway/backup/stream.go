package backup

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// The admin API sends a backup as a tar stream: manifest.json first, then
// every file it lists, in its order. ReadTar checks each file against
// the manifest as it arrives and writes the manifest last, so a directory
// with a manifest holds a whole, checked backup.

// WriteTar writes the backup in dir, whose manifest is m, to w as a tar
// stream.
func WriteTar(w io.Writer, dir string, m Manifest) error {
	tw := tar.NewWriter(w)
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	b = append(b, '\n')
	if err := tw.WriteHeader(&tar.Header{Name: ManifestName, Mode: 0o640, Size: int64(len(b)), ModTime: m.CreatedAt,
		Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
		return fmt.Errorf("backup: streaming: %w", err)
	}
	if _, err := tw.Write(b); err != nil {
		return fmt.Errorf("backup: streaming: %w", err)
	}
	for _, f := range m.Files {
		if err := writeTarFile(tw, filepath.Join(dir, filepath.FromSlash(f.Path)), f, m); err != nil {
			return fmt.Errorf("backup: streaming %s: %w", f.Path, err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("backup: streaming: %w", err)
	}
	return nil
}

func writeTarFile(tw *tar.Writer, src string, f File, m Manifest) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := tw.WriteHeader(&tar.Header{Name: f.Path, Mode: 0o640, Size: f.Size, ModTime: m.CreatedAt,
		Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
		return err
	}
	n, err := io.Copy(tw, io.LimitReader(in, f.Size))
	if err == nil && n != f.Size {
		err = fmt.Errorf("%d bytes, the manifest says %d", n, f.Size)
	}
	return err
}

// ReadTar reads a backup's tar stream (WriteTar's) into dir, which must
// not exist or be empty. Every file must be one the manifest lists, with
// its size and SHA-256, and every listed file must come; the manifest is
// written last. On an error, what it wrote is removed.
func ReadTar(r io.Reader, dir string) (m Manifest, err error) {
	if err := emptyDir(dir); err != nil {
		return m, err
	}
	defer func() {
		if err != nil {
			for _, sub := range []string{"db", "media", ManifestName} {
				_ = os.RemoveAll(filepath.Join(dir, sub))
			}
		}
	}()
	tr := tar.NewReader(r)
	hdr, err := tr.Next()
	if err != nil {
		return m, fmt.Errorf("backup: reading the stream: %w", err)
	}
	if hdr.Name != ManifestName || hdr.Typeflag != tar.TypeReg || hdr.Size > maxManifestBytes {
		return m, fmt.Errorf("backup: the stream does not begin with %s", ManifestName)
	}
	raw, err := io.ReadAll(tr)
	if err != nil {
		return m, fmt.Errorf("backup: reading the manifest: %w", err)
	}
	if m, err = ParseManifest(raw); err != nil {
		return m, err
	}
	want := make(map[string]File, len(m.Files))
	for _, f := range m.Files {
		want[f.Path] = f
	}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return m, fmt.Errorf("backup: reading the stream: %w", err)
		}
		f, ok := want[hdr.Name]
		if !ok || hdr.Typeflag != tar.TypeReg || hdr.Size != f.Size {
			return m, fmt.Errorf("backup: the stream holds %q (%d bytes), which the manifest does not list so", hdr.Name, hdr.Size)
		}
		delete(want, hdr.Name)
		dst := filepath.Join(dir, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
			return m, fmt.Errorf("backup: %w", err)
		}
		if err := writeChecked(tr, dst, f); err != nil {
			return m, fmt.Errorf("backup: %s: %w", f.Path, err)
		}
	}
	for p := range want {
		return m, fmt.Errorf("backup: the stream ended without %s (cut short?)", p)
	}
	for _, sub := range []string{"db", "media"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o750); err != nil {
			return m, fmt.Errorf("backup: %w", err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, ManifestName), raw, 0o640); err != nil {
		return m, fmt.Errorf("backup: writing the manifest: %w", err)
	}
	return m, nil
}

// Thin POSIX file helpers returning Status. All paths are plain std::string.
#ifndef M2MDB_ENGINE_UTIL_FILE_H_
#define M2MDB_ENGINE_UTIL_FILE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "m2mdb/status.h"

namespace m2mdb {

// Builds an error status from errno: kNotFound for ENOENT, kResourceExhausted
// for ENOSPC, else kInternal, with "context: strerror".
Status ErrnoStatus(std::string_view context, int err);

// Modes of everything m2mdb creates in a data directory: owner only (the
// umask can only narrow them further).
inline constexpr unsigned kPrivateDirMode = 0700;
inline constexpr unsigned kPrivateFileMode = 0600;

Status CreateDirs(const std::string& path);  // mkdir -p; new directories get kPrivateDirMode
Status SyncDir(const std::string& path);     // fsync a directory (after rename/create)
Status RemoveFile(const std::string& path);  // ok if absent
Status RemoveAll(const std::string& path);   // rm -rf; ok if absent
Status RenameFile(const std::string& from, const std::string& to);
bool FileExists(const std::string& path);
StatusOr<uint64_t> FileSize(const std::string& path);
// Names (not paths) of the entries in `dir`, sorted, without "." and "..".
StatusOr<std::vector<std::string>> ListDir(const std::string& dir);
StatusOr<std::string> ReadFileToString(const std::string& path);
// Writes `data` to path.tmp, fsyncs, renames over `path`, fsyncs the directory.
Status WriteFileAtomic(const std::string& path, std::string_view data);
Status TruncateFile(const std::string& path, uint64_t size);
// Whether the volume of directory `dir` can take `bytes` more: allocates
// them for real in a probe file (posix_fallocate; statvfs would miss quotas
// and root's reserved blocks) and frees them again. False on ENOSPC/EDQUOT;
// true when the file system cannot tell (no fallocate).
StatusOr<bool> HasRoomFor(const std::string& dir, uint64_t bytes);
// Sum of file sizes under `dir`, recursively.
StatusOr<uint64_t> DirectorySize(const std::string& dir);

// An append-only file. Not thread-safe.
class AppendFile {
 public:
  // Opens (creating if needed, mode kPrivateFileMode) for append. If
  // `truncate`, empties it first.
  static StatusOr<std::unique_ptr<AppendFile>> Open(const std::string& path, bool truncate);
  ~AppendFile();
  AppendFile(const AppendFile&) = delete;
  AppendFile& operator=(const AppendFile&) = delete;

  Status Append(std::string_view data);  // write(2) loop; no user-space buffer
  Status Sync();                         // fdatasync
  // Cuts the file to `size` bytes (ftruncate; needs no free space) and
  // makes later appends continue there.
  Status Truncate(uint64_t size);
  Status Close();
  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  AppendFile(std::string path, int fd, uint64_t size) : path_(std::move(path)), fd_(fd), size_(size) {}
  std::string path_;
  int fd_;
  uint64_t size_;
};

// A read-only memory map of a whole file. Thread-safe for reads.
class MappedFile {
 public:
  static StatusOr<std::unique_ptr<MappedFile>> Open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  std::string_view data() const { return std::string_view(static_cast<const char*>(base_), size_); }
  const std::string& path() const { return path_; }

 private:
  MappedFile(std::string path, void* base, size_t size) : path_(std::move(path)), base_(base), size_(size) {}
  std::string path_;
  void* base_;
  size_t size_;
};

}  // namespace m2mdb

#endif  // M2MDB_ENGINE_UTIL_FILE_H_

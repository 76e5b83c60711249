// sls: Linus's readdir + async_stat loop as a tiny `ls -lAn`.
//
//   sls [--sync] [--paths] [DIR]
//
// Reads the directory with getdents64 atoms, submits one chain per entry
// (fstatat, plus readlinkat for symbolic links), waits once, and prints the
// entries sorted by name.  --sync does the same with plain system calls:
// both modes print exactly the same thing.  --paths tells on stderr how many
// stat chains completed cached (in the caller), through the ring (went
// asynchronous) or failed to submit.
#include <syslet.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace
{

struct entry {
	std::string name;
	unsigned char type = DT_UNKNOWN;
	struct stat st {
	};
	std::string link_target;
	int error = 0; // errno of the stat, 0 if it worked
};

// One record of a getdents64 buffer (the kernel's struct linux_dirent64):
// u64 inode, s64 offset, u16 record length, u8 type, then the name.
constexpr std::size_t record_length_offset = 16;
constexpr std::size_t type_offset = 18;
constexpr std::size_t name_offset = 19;

void parse_dirents(std::span<const std::byte> bytes, std::vector<entry>& entries)
{
	std::size_t position = 0;
	while (position < bytes.size()) {
		unsigned short record_length = 0;
		std::memcpy(&record_length, bytes.data() + position + record_length_offset,
			    sizeof(record_length));
		const auto type = static_cast<unsigned char>(bytes[position + type_offset]);
		const std::string_view name(
			reinterpret_cast<const char*>(bytes.data() + position + name_offset));
		if (name != "." && name != "..")
			entries.push_back({std::string(name), type, {}, {}, 0});
		position += record_length;
	}
}

std::optional<std::vector<entry>> read_directory_sync(int dirfd)
{
	std::vector<entry> entries;
	std::array<std::byte, 32768> buffer{};
	for (;;) {
		const long n = ::syscall(SYS_getdents64, dirfd, buffer.data(), buffer.size());
		if (n < 0)
			return std::nullopt;
		if (n == 0)
			return entries;
		parse_dirents({buffer.data(), static_cast<std::size_t>(n)}, entries);
	}
}

void stat_entries_sync(int dirfd, std::vector<entry>& entries)
{
	for (auto& e : entries) {
		if (::fstatat(dirfd, e.name.c_str(), &e.st, AT_SYMLINK_NOFOLLOW) != 0) {
			e.error = errno;
			continue;
		}
		if (S_ISLNK(e.st.st_mode)) {
			std::array<char, PATH_MAX> target{};
			const ssize_t length =
				::readlinkat(dirfd, e.name.c_str(), target.data(), target.size());
			if (length > 0)
				e.link_target.assign(target.data(), static_cast<std::size_t>(length));
		}
	}
}

// getdents64 as a syslet atom, resubmitted until the directory is exhausted.
std::optional<std::vector<entry>> read_directory_async(int dirfd)
{
	std::vector<entry> entries;
	syslet::chain reader;
	const auto buffer = reader.buffer(32768);
	reader.add(syslet::op::getdents64(dirfd, buffer.data(), buffer.size()));
	for (;;) {
		if (!syslet::submit(reader) || !reader.wait())
			return std::nullopt;
		const auto n = reader.result();
		if (!n)
			return std::nullopt;
		if (*n == 0)
			return entries;
		parse_dirents(buffer.first(static_cast<std::size_t>(*n)), entries);
	}
}

struct path_counts {
	std::size_t cached = 0, ring = 0, other = 0;
};

// Linus's loop: submit a stat for every entry, then wait once.
path_counts stat_entries_async(int dirfd, std::vector<entry>& entries)
{
	std::vector<syslet::chain> stats;
	stats.reserve(entries.size());
	std::vector<std::span<std::byte>> link_buffers(entries.size());
	for (std::size_t i = 0; i < entries.size(); ++i) {
		syslet::chain& c = stats.emplace_back();
		c.add(syslet::op::fstatat(dirfd, entries[i].name, &entries[i].st, AT_SYMLINK_NOFOLLOW),
		      syslet::flag::stop_on_negative);
		if (entries[i].type == DT_LNK || entries[i].type == DT_UNKNOWN) {
			link_buffers[i] = c.buffer(PATH_MAX);
			c.add(syslet::op::syscall(SYS_readlinkat, dirfd, syslet::op::path(entries[i].name),
						  link_buffers[i].data(), link_buffers[i].size()));
		}
		(void)syslet::submit(c);
	}
	(void)syslet::wait_all();

	path_counts counts;
	for (std::size_t i = 0; i < entries.size(); ++i) {
		entry& e = entries[i];
		const auto& finished = stats[i].finished();
		if (finished && finished->path == syslet::completion_path::cached)
			++counts.cached;
		else if (finished && finished->path == syslet::completion_path::ring)
			++counts.ring;
		else
			++counts.other;
		const auto stat_result = stats[i].result(syslet::atom_ref{0});
		if (!stat_result) {
			e.error = stat_result.error().value();
			continue;
		}
		if (S_ISLNK(e.st.st_mode) && stats[i].size() > 1) {
			const auto length = stats[i].result(syslet::atom_ref{1});
			if (length && *length > 0)
				e.link_target.assign(reinterpret_cast<const char*>(link_buffers[i].data()),
						     static_cast<std::size_t>(*length));
		}
	}
	return counts;
}

std::string mode_string(mode_t mode)
{
	std::string text = "?---------";
	if (S_ISREG(mode))
		text[0] = '-';
	else if (S_ISDIR(mode))
		text[0] = 'd';
	else if (S_ISLNK(mode))
		text[0] = 'l';
	else if (S_ISCHR(mode))
		text[0] = 'c';
	else if (S_ISBLK(mode))
		text[0] = 'b';
	else if (S_ISFIFO(mode))
		text[0] = 'p';
	else if (S_ISSOCK(mode))
		text[0] = 's';
	static constexpr std::array<mode_t, 9> bits = {S_IRUSR, S_IWUSR, S_IXUSR, S_IRGRP, S_IWGRP,
						       S_IXGRP, S_IROTH, S_IWOTH, S_IXOTH};
	static constexpr std::string_view letters = "rwxrwxrwx";
	for (std::size_t i = 0; i < bits.size(); ++i)
		if (mode & bits[i])
			text[i + 1] = letters[i];
	return text;
}

void print_entry(const entry& e)
{
	if (e.error != 0) {
		std::printf("?????????? %s: %s\n", e.name.c_str(), std::strerror(e.error));
		return;
	}
	std::array<char, 32> when{};
	const std::time_t mtime = e.st.st_mtim.tv_sec;
	struct tm utc {
	};
	::gmtime_r(&mtime, &utc);
	std::strftime(when.data(), when.size(), "%Y-%m-%d %H:%M", &utc);
	std::printf("%s %3lu %5u %5u %10lld %s %s", mode_string(e.st.st_mode).c_str(),
		    static_cast<unsigned long>(e.st.st_nlink), e.st.st_uid, e.st.st_gid,
		    static_cast<long long>(e.st.st_size), when.data(), e.name.c_str());
	if (!e.link_target.empty())
		std::printf(" -> %s", e.link_target.c_str());
	std::printf("\n");
}

} // namespace

int main(int argc, char** argv)
{
	bool synchronous = false;
	bool show_paths = false;
	const char* directory = ".";
	for (int i = 1; i < argc; ++i) {
		const std::string_view option = argv[i];
		if (option == "--sync")
			synchronous = true;
		else if (option == "--paths")
			show_paths = true;
		else if (option == "--help" || option == "-h") {
			std::printf("usage: sls [--sync] [--paths] [DIR]\n");
			return 0;
		} else
			directory = argv[i];
	}

	const int dirfd = ::open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		std::fprintf(stderr, "sls: %s: %s\n", directory, std::strerror(errno));
		return 1;
	}
	auto entries = synchronous ? read_directory_sync(dirfd) : read_directory_async(dirfd);
	if (!entries) {
		std::fprintf(stderr, "sls: %s: cannot read directory\n", directory);
		::close(dirfd);
		return 1;
	}
	if (synchronous) {
		stat_entries_sync(dirfd, *entries);
	} else {
		const path_counts counts = stat_entries_async(dirfd, *entries);
		if (show_paths)
			std::fprintf(stderr,
				     "sls: %zu stat chains: %zu cached, %zu through the ring, %zu other\n",
				     entries->size(), counts.cached, counts.ring, counts.other);
	}
	::close(dirfd);

	std::sort(entries->begin(), entries->end(),
		  [](const entry& a, const entry& b) { return a.name < b.name; });
	for (const auto& e : *entries)
		print_entry(e);
	return 0;
}

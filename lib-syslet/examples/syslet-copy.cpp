// syslet-copy: copies a file with ONE chain that loops in the kernel:
//
//   [0] read(in, buf, N)        stop if <= 0, then skip to [1]; else next [2]
//   [1] fsync(out)              end
//   [2] write(out, buf, [0])    stop if < 0; else next [0]
//
// The write's length argument is the read atom's result slot.
//
//   syslet-copy [--async] SOURCE DEST
#include <syslet.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string_view>

namespace
{

int fail(const char* what, std::error_code error)
{
	std::fprintf(stderr, "syslet-copy: %s: %s\n", what, error.message().c_str());
	return 1;
}

} // namespace

int main(int argc, char** argv)
{
	namespace flag = syslet::flag;
	namespace op = syslet::op;

	int first_path = 1;
	syslet::atom_flags mode{};
	if (argc > 1 && std::string_view(argv[1]) == "--async") {
		mode = flag::async;
		first_path = 2;
	}
	if (argc - first_path != 2) {
		std::fprintf(stderr, "usage: syslet-copy [--async] SOURCE DEST\n");
		return 2;
	}
	const char* source = argv[first_path];
	const char* destination = argv[first_path + 1];

	auto in = syslet::async_open(source, O_RDONLY | O_CLOEXEC);
	auto out = syslet::async_open(destination, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (!syslet::wait_all())
		return fail("wait", std::make_error_code(std::errc::io_error));
	if (!in.result())
		return fail(source, in.result().error());
	if (!out.result())
		return fail(destination, out.result().error());
	const int in_fd = static_cast<int>(*in.result());
	const int out_fd = static_cast<int>(*out.result());

	syslet::chain copy;
	const auto buffer = copy.buffer(std::size_t{128} * 1024);
	const auto read_atom = copy.add(op::read(in_fd, buffer.data(), buffer.size()),
					mode | flag::stop_on_non_positive | flag::skip_to_next_on_stop);
	const auto fsync_atom = copy.add(op::fsync(out_fd));
	const auto write_atom = copy.add(op::write(out_fd, buffer.data(), read_atom), flag::stop_on_negative);
	copy.end_after(fsync_atom);
	copy.link(read_atom, write_atom);
	copy.link(write_atom, read_atom);

	int status = 0;
	if (auto submitted = syslet::submit(copy); !submitted || !copy.wait())
		status = fail("async_exec", submitted.error());
	else if (auto last_read = copy.result(read_atom); !last_read)
		status = fail(source, last_read.error());
	else if (auto written = copy.result(write_atom); copy.finished()->final_atom == write_atom.index)
		status = fail(destination, written.error());
	else if (auto synced = copy.result(); !synced)
		status = fail("fsync", synced.error());

	(void)syslet::async_close(in_fd);
	(void)syslet::async_close(out_fd);
	return status;
}

// The 2007 syslet "Hello World", with lib-syslet: one SYSLET_ASYNC atom
// writes to stdout and its completion is reaped from the ring.
#include <syslet.hpp>

#include <unistd.h>

#include <cstdio>
#include <string_view>

int main()
{
	static constexpr std::string_view message = "Hello Syslet World!\n";

	syslet::ring ring;
	syslet::chain hello(syslet::op::write(STDOUT_FILENO, message.data(), message.size()),
			    syslet::flag::async);
	if (auto submitted = ring.submit(hello); !submitted) {
		std::fprintf(stderr, "hello-syslet: async_exec: %s\n", submitted.error().message().c_str());
		return 1;
	}
	if (auto waited = hello.wait(); !waited) {
		std::fprintf(stderr, "hello-syslet: async_wait: %s\n", waited.error().message().c_str());
		return 1;
	}
	if (auto written = hello.result(); !written || *written != static_cast<long>(message.size())) {
		std::fprintf(stderr, "hello-syslet: write failed\n");
		return 1;
	}
	const bool via_ring = hello.finished()->path == syslet::completion_path::ring;
	std::fprintf(stderr, "completed %s syslet atom (%s)\n", via_ring ? "an async" : "a cached",
		     syslet::sys::kernel_has_syslets() ? "kernel syslets" : "user-space fallback");
	return 0;
}

// lib-syslet layer 3: atoms and chains.
//
// A syslet atom names its arguments by *address*.  syslet::chain owns
// everything those addresses point to -- the atoms, the argument values,
// the result slots, chain variables, copied strings and buffers -- in heap
// storage that does not move when the chain object is moved.  Addresses
// are written into the atoms only when the chain is submitted, and a chain
// cannot be changed while it is in flight, so a chain built with this API
// cannot hand the kernel a dangling pointer.  Destroying a chain that is
// still in flight hands its storage to the ring, which frees it when the
// chain completes.
//
// Atoms are linked in the order they are added (each atom's `next` is the
// one added after it); link() and end_after() change that.  Because atoms
// sit in one array, SYSLET_SKIP_TO_NEXT_ON_STOP continues at the atom added
// right after the stopping one.
#pragma once

#include "abi.hpp"
#include "error.hpp"

#include <array>
#include <chrono>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace syslet
{

// Flags of one atom (SYSLET_* in the uapi header), combinable with `|`.
class atom_flags
{
public:
	constexpr atom_flags() noexcept = default;
	constexpr explicit atom_flags(std::uint64_t bits) noexcept : bits_(bits) {}
	constexpr std::uint64_t bits() const noexcept { return bits_; }
	constexpr bool contains(atom_flags other) const noexcept
	{
		return (bits_ & other.bits_) == other.bits_;
	}
	friend constexpr atom_flags operator|(atom_flags a, atom_flags b) noexcept
	{
		return atom_flags{a.bits_ | b.bits_};
	}
	friend constexpr bool operator==(atom_flags, atom_flags) noexcept = default;

private:
	std::uint64_t bits_ = 0;
};

namespace flag
{
// Execution mode, meaningful on the first atom of a chain only.
inline constexpr atom_flags async{SYSLET_ASYNC}; // queue at once, complete via the ring
inline constexpr atom_flags sync{SYSLET_SYNC};   // never go asynchronous
// Do not post the chain to the ring if it ends on this atom asynchronously.
inline constexpr atom_flags no_complete{SYSLET_NO_COMPLETE};
// Stop the chain after this atom depending on its result...
inline constexpr atom_flags stop_on_nonzero{SYSLET_STOP_ON_NONZERO};
inline constexpr atom_flags stop_on_zero{SYSLET_STOP_ON_ZERO};
inline constexpr atom_flags stop_on_negative{SYSLET_STOP_ON_NEGATIVE};
inline constexpr atom_flags stop_on_non_positive{SYSLET_STOP_ON_NON_POSITIVE};
// ...or, with this flag, continue at the linearly next atom instead.
inline constexpr atom_flags skip_to_next_on_stop{SYSLET_SKIP_TO_NEXT_ON_STOP};
} // namespace flag

// An atom of a chain, usable as an argument: "the result of that atom".
struct atom_ref {
	std::size_t index;
	friend bool operator==(atom_ref, atom_ref) = default;
};

// A 64-bit variable owned by a chain, usable as an argument by any atom.
struct var_ref {
	std::size_t index;
	friend bool operator==(var_ref, var_ref) = default;
};

// A string the chain copies and owns; passed to the system call by address.
struct owned_string {
	std::string text;
};

// One system call argument: a value (integers and pointers), the result of
// another atom, a chain variable, or a string copied into the chain.
class arg
{
public:
	template <class Integer>
	requires std::is_integral_v<Integer> || std::is_enum_v<Integer>
	constexpr arg(Integer value) noexcept // NOLINT: implicit by design
	    : source_(static_cast<std::uint64_t>(value))
	{
	}
	template <class T>
	arg(T* pointer) noexcept // NOLINT: implicit by design
	    : source_(abi::address_of(pointer))
	{
	}
	constexpr arg(std::nullptr_t) noexcept : source_(std::uint64_t{0}) {} // NOLINT
	constexpr arg(atom_ref result_of) noexcept : source_(result_of) {}    // NOLINT
	constexpr arg(var_ref variable) noexcept : source_(variable) {}       // NOLINT
	arg(owned_string text) : source_(std::move(text)) {}                  // NOLINT

	using source = std::variant<std::uint64_t, atom_ref, var_ref, owned_string>;
	const source& get() const noexcept { return source_; }

private:
	source source_;
};

// A system call with its arguments: what one atom runs.
struct call {
	call(long number, std::initializer_list<arg> arguments) : nr(number)
	{
		if (arguments.size() > abi::max_args)
			throw std::invalid_argument("syslet::call: at most 6 arguments");
		args.assign(arguments.begin(), arguments.end());
	}
	long nr;
	std::vector<arg> args;
};

// How a chain's completion was observed.
enum class completion_path {
	cached,     // async_exec() returned it: it never left the caller
	ring,       // it went asynchronous and was reaped from the completion ring
	unobserved, // it went asynchronous and ended on a NO_COMPLETE atom
};

struct completion {
	static constexpr std::size_t unknown_atom = std::numeric_limits<std::size_t>::max();

	std::size_t final_atom = unknown_atom; // index of the atom the chain ended on
	std::int64_t value = 0;                // that atom's raw result (-errno on failure)
	completion_path path = completion_path::cached;

	syscall_result result() const noexcept
	{
		if (final_atom == unknown_atom)
			return errno_code(ENODATA);
		return from_kernel_return(value);
	}
};

using completion_callback = std::function<void(const completion&)>;

namespace detail
{

class chain_state;

// The ring a chain is in flight on.
class chain_owner
{
public:
	virtual void adopt_orphan(std::unique_ptr<chain_state> state) noexcept = 0;
	virtual result<void> wait_for(const chain_state& state,
				      std::optional<std::chrono::nanoseconds> timeout) = 0;

protected:
	chain_owner() = default;
	chain_owner(const chain_owner&) = default;
	chain_owner& operator=(const chain_owner&) = default;
	~chain_owner() = default;
};

[[noreturn]] inline void contract_violation(const char* what)
{
	throw std::logic_error(what);
}

// Result slot value of an atom that did not run.
inline constexpr std::int64_t not_run = std::numeric_limits<std::int64_t>::min();
inline constexpr std::size_t no_next = std::numeric_limits<std::size_t>::max();

class chain_state
{
public:
	enum class status { idle, in_flight, done };

	std::size_t add(const call& c, atom_flags flags)
	{
		require_not_in_flight();
		if ((flags.bits() & ~abi::valid_flags) != 0)
			throw std::invalid_argument("syslet::chain: unknown atom flags");
		atom_extra extra;
		for (std::size_t i = 0; i < c.args.size(); ++i)
			extra.sources[i] = make_source(c.args[i], extra.values[i]);

		atoms_.reserve(atoms_.size() + 1);
		extras_.reserve(extras_.size() + 1);
		const std::size_t index = atoms_.size();
		abi::atom atom{};
		atom.flags = flags.bits();
		atom.nr = static_cast<std::uint64_t>(c.nr);
		atoms_.push_back(atom);
		extras_.push_back(extra);
		if (index > 0 && extras_[index - 1].next == no_next && !extras_[index - 1].ended_explicitly)
			extras_[index - 1].next = index;
		return index;
	}

	void link(std::size_t from, std::size_t to)
	{
		require_not_in_flight();
		check_atom(from);
		check_atom(to);
		extras_[from].next = to;
		extras_[from].ended_explicitly = false;
	}

	void end_after(std::size_t atom)
	{
		require_not_in_flight();
		check_atom(atom);
		extras_[atom].next = no_next;
		extras_[atom].ended_explicitly = true;
	}

	std::size_t add_variable(std::uint64_t initial)
	{
		require_not_in_flight();
		variables_.push_back(initial);
		return variables_.size() - 1;
	}

	std::uint64_t variable(std::size_t index) const
	{
		require_not_in_flight();
		return variables_.at(index);
	}

	void set_variable(std::size_t index, std::uint64_t value)
	{
		require_not_in_flight();
		variables_.at(index) = value;
	}

	const char* store_string(std::string_view text)
	{
		auto copy = std::make_unique<char[]>(text.size() + 1);
		text.copy(copy.get(), text.size());
		copy[text.size()] = '\0';
		strings_.push_back(std::move(copy));
		return strings_.back().get();
	}

	void keep_alive(std::shared_ptr<void> object) { objects_.push_back(std::move(object)); }

	std::size_t size() const noexcept { return atoms_.size(); }
	status state() const noexcept { return status_; }

	std::int64_t raw_result(std::size_t atom) const
	{
		require_not_in_flight();
		check_atom(atom);
		return extras_[atom].result;
	}

	bool may_end_silently() const noexcept
	{
		for (const auto& atom : atoms_)
			if ((atom.flags & SYSLET_NO_COMPLETE) != 0)
				return true;
		return false;
	}

	// Writes every address into the atoms; returns the first atom.
	abi::atom* materialize()
	{
		if (atoms_.empty())
			contract_violation("syslet::chain: submitting an empty chain");
		for (std::size_t i = 0; i < atoms_.size(); ++i)
			for (const auto& source : extras_[i].sources)
				check_source(source);
		for (std::size_t i = 0; i < atoms_.size(); ++i) {
			abi::atom& atom = atoms_[i];
			atom_extra& extra = extras_[i];
			extra.result = not_run;
			atom.ret_ptr = abi::address_of(&extra.result);
			atom.next = extra.next == no_next ? 0 : abi::address_of(&atoms_[extra.next]);
			for (std::size_t a = 0; a < abi::max_args; ++a)
				atom.arg_ptr[a] = address_of_source(extra.sources[a], extra.values[a]);
			abi::user_data(atom) = abi::address_of(this);
		}
		return atoms_.data();
	}

	std::size_t index_of(std::uint64_t atom_address) const noexcept
	{
		const std::uint64_t first = abi::address_of(atoms_.data());
		const std::uint64_t offset = atom_address - first;
		if (atom_address < first || offset % sizeof(abi::atom) != 0 ||
		    offset / sizeof(abi::atom) >= atoms_.size())
			return completion::unknown_atom;
		return offset / sizeof(abi::atom);
	}

	completion completed_at(std::uint64_t atom_address, completion_path path) const noexcept
	{
		completion done;
		done.final_atom = index_of(atom_address);
		done.path = path;
		if (done.final_atom != completion::unknown_atom)
			done.value = extras_[done.final_atom].result;
		return done;
	}

	void mark_in_flight(chain_owner& owner) noexcept
	{
		status_ = status::in_flight;
		owner_ = &owner;
		finished_.reset();
		failure_ = {};
	}

	void mark_idle() noexcept
	{
		status_ = status::idle;
		owner_ = nullptr;
	}

	void mark_failed(std::error_code error) noexcept
	{
		status_ = status::done;
		owner_ = nullptr;
		finished_.reset();
		failure_ = error;
	}

	// Records the completion, then runs the callback and resumes a waiting
	// coroutine.  Neither may be assumed to leave *this alive.
	void finish(const completion& done)
	{
		status_ = status::done;
		owner_ = nullptr;
		finished_ = done;
		const completion record = done;
		const completion_callback callback = callback_;
		const std::coroutine_handle<> continuation = std::exchange(continuation_, {});
		if (callback)
			callback(record);
		if (continuation)
			continuation.resume();
	}

	const std::optional<completion>& finished() const noexcept { return finished_; }
	std::error_code failure() const noexcept { return failure_; }
	chain_owner* owner() const noexcept { return owner_; }

	void set_callback(completion_callback callback) { callback_ = std::move(callback); }
	void set_continuation(std::coroutine_handle<> continuation) noexcept { continuation_ = continuation; }

	// The ring went away while the kernel may still use this chain.
	void mark_abandoned() noexcept { owner_ = nullptr; }

	// Owned by the ring from now on (the chain object went away in flight).
	bool orphaned() const noexcept { return orphaned_; }
	void mark_orphaned() noexcept
	{
		orphaned_ = true;
		continuation_ = {};
	}

private:
	enum class source_kind : std::uint8_t { none, value, atom_result, variable };
	struct source_ref {
		source_kind kind = source_kind::none;
		std::size_t index = 0;
	};
	struct atom_extra {
		std::array<source_ref, abi::max_args> sources{};
		std::array<std::uint64_t, abi::max_args> values{};
		std::int64_t result = not_run;
		std::size_t next = no_next;
		bool ended_explicitly = false;
	};

	source_ref make_source(const arg& a, std::uint64_t& value_slot)
	{
		struct visitor {
			chain_state& chain;
			std::uint64_t& value_slot;
			source_ref operator()(std::uint64_t value) const
			{
				value_slot = value;
				return {source_kind::value, 0};
			}
			source_ref operator()(atom_ref ref) const
			{
				return {source_kind::atom_result, ref.index};
			}
			source_ref operator()(var_ref ref) const
			{
				return {source_kind::variable, ref.index};
			}
			source_ref operator()(const owned_string& text) const
			{
				value_slot = abi::address_of(chain.store_string(text.text));
				return {source_kind::value, 0};
			}
		};
		return std::visit(visitor{*this, value_slot}, a.get());
	}

	void check_source(const source_ref& source) const
	{
		if (source.kind == source_kind::atom_result && source.index >= atoms_.size())
			contract_violation("syslet::chain: argument refers to an atom that does not exist");
		if (source.kind == source_kind::variable && source.index >= variables_.size())
			contract_violation(
				"syslet::chain: argument refers to a variable that does not exist");
	}

	std::uint64_t address_of_source(const source_ref& source, std::uint64_t& value_slot)
	{
		switch (source.kind) {
		case source_kind::value:
			return abi::address_of(&value_slot);
		case source_kind::atom_result:
			return abi::address_of(&extras_[source.index].result);
		case source_kind::variable:
			return abi::address_of(&variables_[source.index]);
		case source_kind::none:
			break;
		}
		return 0;
	}

	void check_atom(std::size_t atom) const
	{
		if (atom >= atoms_.size())
			contract_violation("syslet::chain: no such atom");
	}

	void require_not_in_flight() const
	{
		if (status_ == status::in_flight)
			contract_violation("syslet::chain: the chain is in flight");
	}

	std::vector<abi::atom> atoms_; // contiguous: SKIP_TO_NEXT_ON_STOP needs atom + 1
	std::vector<atom_extra> extras_;
	std::vector<std::uint64_t> variables_;
	std::vector<std::unique_ptr<char[]>> strings_;
	std::vector<std::shared_ptr<void>> objects_;

	status status_ = status::idle;
	chain_owner* owner_ = nullptr;
	std::optional<completion> finished_;
	std::error_code failure_;
	completion_callback callback_;
	std::coroutine_handle<> continuation_;
	bool orphaned_ = false;
};

} // namespace detail

// A chain of atoms and the storage its arguments and results live in.
// Move-only.  Not thread-safe: use a chain on the thread that submits it.
class chain
{
public:
	chain() : state_(std::make_unique<detail::chain_state>()) {}
	chain(const call& c, atom_flags flags = {}) : chain() { add(c, flags); } // NOLINT
	chain(const chain&) = delete;
	chain& operator=(const chain&) = delete;
	chain(chain&& other) noexcept = default;
	chain& operator=(chain&& other) noexcept
	{
		if (this != &other) {
			release();
			state_ = std::move(other.state_);
		}
		return *this;
	}
	~chain() { release(); }

	// Appends an atom running @c; the previous atom's `next` becomes it.
	atom_ref add(const call& c, atom_flags flags = {}) { return {state().add(c, flags)}; }
	atom_ref add(long nr, std::initializer_list<arg> args, atom_flags flags = {})
	{
		return add(call(nr, args), flags);
	}

	void link(atom_ref from, atom_ref to) { state().link(from.index, to.index); }
	void end_after(atom_ref atom) { state().end_after(atom.index); }

	var_ref variable(std::uint64_t initial = 0) { return {state().add_variable(initial)}; }
	std::uint64_t get(var_ref v) const { return state().variable(v.index); }
	void set(var_ref v, std::uint64_t value) { state().set_variable(v.index, value); }

	// An object owned by the chain, e.g. a struct stat an atom fills in.
	template <class T, class... Args>
	T& emplace(Args&&... args)
	{
		auto object = std::make_shared<T>(std::forward<Args>(args)...);
		T& reference = *object;
		state().keep_alive(std::move(object));
		return reference;
	}

	// A zero-filled buffer owned by the chain.
	std::span<std::byte> buffer(std::size_t size)
	{
		std::shared_ptr<std::byte[]> bytes(new std::byte[size]());
		std::span<std::byte> view(bytes.get(), size);
		state().keep_alive(std::shared_ptr<void>(bytes, bytes.get()));
		return view;
	}

	std::size_t size() const { return state().size(); }
	bool idle() const { return state().state() == detail::chain_state::status::idle; }
	bool in_flight() const { return state().state() == detail::chain_state::status::in_flight; }
	bool done() const { return state().state() == detail::chain_state::status::done; }

	// The completion, once done (empty if submission failed).
	const std::optional<completion>& finished() const { return state().finished(); }

	// The result of the atom the chain ended on; an error while the chain
	// is not done, or the reason submission failed.
	syscall_result result() const
	{
		if (const auto failure = state().failure())
			return failure;
		if (!done())
			return errno_code(in_flight() ? EINPROGRESS : EAGAIN);
		return finished()->result();
	}

	// The result of one atom; ECANCELED if it did not run.
	syscall_result result(atom_ref atom) const
	{
		const std::int64_t value = state().raw_result(atom.index);
		if (value == detail::not_run)
			return errno_code(ECANCELED);
		return from_kernel_return(value);
	}

	// Called once per completion, cached or reaped, with the completion.
	void on_complete(completion_callback callback) { state().set_callback(std::move(callback)); }

	// Waits (reaping the ring it is on) until the chain is done.
	syslet::result<void> wait(std::optional<std::chrono::nanoseconds> timeout = std::nullopt)
	{
		if (!in_flight())
			return {};
		if (state().owner() == nullptr)
			return errno_code(EOWNERDEAD); // its ring was destroyed
		return state().owner()->wait_for(state(), timeout);
	}

	detail::chain_state& state()
	{
		if (!state_)
			detail::contract_violation("syslet::chain: used after move");
		return *state_;
	}
	const detail::chain_state& state() const
	{
		if (!state_)
			detail::contract_violation("syslet::chain: used after move");
		return *state_;
	}

private:
	void release() noexcept
	{
		if (state_ && state_->state() == detail::chain_state::status::in_flight) {
			detail::chain_owner* owner = state_->owner();
			if (owner == nullptr) { // abandoned: the kernel may still write to it
				(void)state_.release();
				return;
			}
			state_->mark_orphaned();
			owner->adopt_orphan(std::move(state_));
		}
		state_.reset();
	}

	std::unique_ptr<detail::chain_state> state_;
};

} // namespace syslet

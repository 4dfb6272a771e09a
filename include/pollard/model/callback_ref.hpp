// pollard — callback_ref: a non-owning reference to a callable, the way models hand activations
// and logits to the caller without allocating (a std::function_ref for C++20).
#pragma once

#include <concepts>
#include <memory>
#include <type_traits>
#include <utility>

namespace pollard::model {

template <class Signature>
class callback_ref;

/// Refers to a callable taking Args...; an empty callback_ref is valid and calls nothing. It does
/// not own the callable: it must not outlive it (pass it as an argument, do not store it).
template <class... Args>
class callback_ref<void(Args...)> {
 public:
  constexpr callback_ref() noexcept = default;

  template <class F>
  requires(!std::same_as<std::remove_cvref_t<F>, callback_ref> &&
           std::invocable<std::remove_reference_t<F>&,
                          Args...>) constexpr callback_ref(F&& f) noexcept  // NOLINT: implicit, as
                                                                            // a callable argument
      : object_(const_cast<void*>(static_cast<const void*>(std::addressof(f)))),
        call_(&invoke<std::remove_reference_t<F>>) {}

  void operator()(Args... args) const {
    if (call_ != nullptr) call_(object_, std::forward<Args>(args)...);
  }
  explicit operator bool() const noexcept { return call_ != nullptr; }

 private:
  template <class F>
  static void invoke(void* object, Args... args) {
    (*static_cast<F*>(object))(std::forward<Args>(args)...);
  }

  void* object_ = nullptr;
  void (*call_)(void*, Args...) = nullptr;
};

}  // namespace pollard::model

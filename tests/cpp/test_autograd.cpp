// The tape: gradients accumulate across backwards, flow into a tensor used twice summed once,
// replay in reverse recording order, a freed graph raises (retain_graph keeps it), no_grad
// records nothing, and the saved tensors are released after backward.
#include "core/allocator.h"
#include "test_util.h"

using namespace md;
using testutil::host;

namespace {
Tensor leaf(const std::vector<float>& v) {
  Tensor t = testutil::tensor(v, {static_cast<int64_t>(v.size())});
  t.set_requires_grad(true);
  return t;
}
}  // namespace

TEST(recording_needs_grad_mode_and_an_input_that_requires_grad) {
  Tensor a = leaf({1, 2}), b = testutil::tensor({3, 4}, {2});
  Tensor y = mul(a, b);
  CHECK(y.requires_grad() && !y.is_leaf());
  CHECK(std::string(y.grad_fn()->name()) == "mul");
  Tensor z = mul(b, b);
  CHECK(!z.requires_grad() && z.is_leaf());
  CHECK(any_requires_grad({&a, &b}));
  CHECK(!any_requires_grad({&b}));
}

TEST(gradients_accumulate_across_backwards) {
  Tensor x = leaf({1, 2, 3});
  sum(mul(x, x)).backward();
  sum(mul(x, 3.0)).backward();
  const auto g = host(x.grad());
  CHECK(g[0] == 5.0f && g[1] == 7.0f && g[2] == 9.0f);
}

TEST(a_tensor_used_twice_receives_the_sum_once) {
  Tensor x = leaf({1, -2});
  Tensor y = mul(x, 2.0);
  Tensor z = add(mul(y, y), y);  // y feeds two nodes; x feeds one
  sum(z).backward();
  const auto g = host(x.grad());
  CHECK_NEAR(g[0], (2 * 2.0 + 1) * 2, 1e-6);
  CHECK_NEAR(g[1], (2 * -4.0 + 1) * 2, 1e-6);
  // the same leaf as both operands of one node
  Tensor w = leaf({3});
  sum(mul(w, w)).backward();
  CHECK_NEAR(host(w.grad())[0], 6.0, 1e-6);
}

TEST(diamond_graph) {
  Tensor x = leaf({0.5f});
  Tensor a = exp(x);
  Tensor out = mul(sin(a), cos(a));  // d/dx = cos(2 e^x) e^x
  out.backward(ones({1}));
  const double e = std::exp(0.5);
  CHECK_NEAR(host(x.grad())[0], std::cos(2 * e) * e, 1e-5);
}

TEST(replay_follows_reverse_recording_order_across_branches) {
  // interleave two branches so that a depth-first order would visit a node before all of its
  // consumers have delivered their gradients
  Tensor x = leaf({2});
  Tensor a = mul(x, 3.0);  // 1
  Tensor b = add(a, 1.0);  // 2
  Tensor c = mul(a, a);    // 3: a used again after b
  Tensor d = mul(b, c);    // 4: (3x + 1) * 9x^2
  d.backward(ones({1}));
  // d' = 3 * 9x^2 + (3x + 1) * 18x = 108 + 252 at x = 2
  CHECK_NEAR(host(x.grad())[0], 360.0, 1e-4);
}

TEST(second_backward_through_a_freed_graph_raises) {
  Tensor x = leaf({1, 2});
  Tensor y = sum(mul(exp(x), x));
  y.backward();
  bool raised = false;
  try {
    y.backward();
  } catch (const RuntimeError& e) {
    raised = std::string(e.what()).find("retain_graph") != std::string::npos;
  }
  CHECK(raised);
}

TEST(retain_graph_allows_a_second_backward) {
  Tensor x = leaf({1, 2});
  Tensor y = sum(mul(exp(x), x));
  y.backward(Tensor(), true);
  y.backward();
  const auto g = host(x.grad());
  for (int i = 0; i < 2; ++i) {
    const double v = i + 1.0;
    CHECK_NEAR(g[i], 2 * (std::exp(v) + std::exp(v) * v), 1e-4);
  }
}

TEST(no_grad_records_nothing_and_restores_the_mode) {
  Tensor x = leaf({1, 2});
  CHECK(grad_enabled());
  {
    NoGradGuard guard;
    CHECK(!grad_enabled());
    Tensor y = mul(x, 2.0);
    CHECK(!y.requires_grad() && y.grad_fn() == nullptr);
    {
      NoGradGuard inner;
      CHECK(!grad_enabled());
    }
    CHECK(!grad_enabled());
  }
  CHECK(grad_enabled());
  CHECK(mul(x, 2.0).requires_grad());
}

TEST(backward_argument_errors) {
  Tensor x = leaf({1, 2});
  CHECK_THROWS(mul(x, 2.0).backward(), RuntimeError);                 // non-scalar, no gradient
  CHECK_THROWS(mul(x, 2.0).backward(ones({3})), ValueError);          // wrong shape
  CHECK_THROWS(testutil::tensor({1}, {1}).backward(), RuntimeError);  // nothing requires grad
  Tensor i = zeros({2}, DType::Int64);
  CHECK_THROWS(i.set_requires_grad(true), TypeError);  // only float32 tensors take gradients
  CHECK_THROWS(mul(x, 2.0).set_requires_grad(false), RuntimeError);
}

TEST(detach_cuts_the_graph) {
  Tensor x = leaf({2, 3});
  Tensor d = mul(x, 2.0).detach();
  CHECK(!d.requires_grad() && d.is_leaf());
  CHECK(d.storage() != nullptr);
  sum(mul(x, d)).backward();
  const auto g = host(x.grad());
  CHECK(g[0] == 4.0f && g[1] == 6.0f);  // d is a constant
}

TEST(inputs_without_requires_grad_get_no_gradient) {
  Tensor a = leaf({1, 2});
  Tensor b = testutil::tensor({3, 4}, {2});
  sum(mul(a, b)).backward();
  CHECK(a.grad().defined());
  CHECK(!b.grad().defined());
}

TEST(saved_tensors_are_released_after_backward) {
  const int64_t base = cpu_memory_stats().allocated;
  {
    Tensor x = leaf(std::vector<float>(1000, 0.5f));
    Tensor y = sum(mul(exp(x), softmax(x, 0)));
    const int64_t with_graph = cpu_memory_stats().allocated;
    y.backward();
    // the graph's saved activations are gone; x, its grad, y and y's (freed) node remain
    CHECK(cpu_memory_stats().allocated < with_graph);
  }
  CHECK(cpu_memory_stats().allocated == base);
}

TEST(deep_chains_do_not_recurse) {
  Tensor x = leaf({1});
  Tensor y = x;
  for (int i = 0; i < 20000; ++i) y = add(y, 1.0);
  y.backward(ones({1}));
  CHECK(host(x.grad())[0] == 1.0f);
}

TEST(an_op_input_without_gradient_path_is_skipped) {
  // embedding's index input never needs a gradient; the weight does
  const int64_t idx[3] = {0, 2, 0};
  Tensor i = from_host(idx, {3}, DType::Int64);
  Tensor w = testutil::random({3, 2}, 5);
  w.set_requires_grad(true);
  sum(embedding(i, w)).backward();
  const auto g = host(w.grad());
  CHECK(g[0] == 2.0f && g[1] == 2.0f && g[2] == 0.0f && g[3] == 0.0f && g[4] == 1.0f && g[5] == 1.0f);
}

TEST(an_in_place_change_through_a_view_reaches_its_base) {
  // h = 2x; h[1] takes h[1] * w (rebase_ of a view: copy_slices_); sum(h) has gradient 2 for
  // x[0], 2 * w for x[1], and h[1]'s old value 2 * x[1] for w
  Tensor x = leaf({1, 2}), w = leaf({5});
  Tensor h = mul(x, 2.0);
  Tensor v = slice(h, 0, 1, 2);
  Tensor old_other = slice(h, 0, 0, 1);  // taken before: refreshes its history when next used
  rebase_("mul_", v, mul(clone(v), w));  // on a copy, as the binding's mul_ does: mul saves its operand
  const auto values = host(h);
  CHECK(values[0] == 2.0f && values[1] == 20.0f);
  CHECK(std::string(v.grad_fn()->name()) == "as_strided" && std::string(h.grad_fn()->name()) == "copy_slices");
  sum(add(h, mul(old_other, 0.0))).backward();
  const auto gx = host(x.grad()), gw = host(w.grad());
  CHECK(gx[0] == 2.0f && gx[1] == 10.0f && gw[0] == 4.0f);
}

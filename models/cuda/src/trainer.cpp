// CUDA training loop (see trainer.hpp); mirrors models/cpu/src/trainer.cpp row for row. One
// device→host copy per step (see the loop); parameters and activations never leave the device.
#include "muelab/models/cuda/trainer.hpp"

#include "muelab/models/cuda/device.hpp"
#include "muelab/models/cuda/model.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <limits>

namespace muelab::models::cuda {

namespace {

template <class T>
models::TrainSummary train_impl(const models::TrainRun& run, const models::TokenSource& data, const std::filesystem::path& out_dir,
                             const std::string& device) {
  const auto& m = run.target.model;
  const auto& tr = run.target.train;
  Model<T> model(models::make_model_spec(run.transfer, m, data.vocab_size(), tr.seq_len, run.architecture));
  model.initialize(run.trainer.seed);
  const auto hyper = models::group_hyperparameters(run.transfer);

  models::TrainingRecorder recorder(run, out_dir);
  const auto validation_loss = [&] { return models::mean_validation_loss(model, data, run); };

  for (std::int64_t step = 0; step < tr.steps; ++step) {
    const auto batch = data.train_batch(run.trainer.seed, step, tr.batch_size, tr.seq_len);
    const double factor = run.schedule.factor(step);
    // The whole step is enqueued without a host read: forward, backward, the gradient norm and the
    // finiteness guard, the optimizer step and the balance bias (both skipped on the device when
    // the loss or the gradient norm is not finite, as the CPU loop skips them).
    model.enqueue_forward(batch.tokens, batch.targets, tr.batch_size);
    model.backward();
    model.finish_gradients(step);
    model.step(run.transfer.optimizer, hyper, factor);
    model.update_balance_bias();
    // ---- THE host reads of a step: exactly one copy. Logged steps (trainer.log_interval, eval
    // steps, the last step): the whole diagnostics block (loss, grad norm, residual RMS, loads);
    // every other step: the scalar loss alone.
    StepDiagnostics diag;
    bool finite = true;
    if (recorder.logs_step(step)) {
      diag = model.read_diagnostics();
      finite = diag.first_nonfinite_step < 0;
    } else {
      diag.stats = model.read_loss();
      diag.grad_norm = std::numeric_limits<double>::quiet_NaN();  // not logged at this step
      finite = std::isfinite(diag.stats.loss);
      // A non-finite loss ends the run: its row needs the diagnostics (one more copy, once).
      if (!finite) diag = model.read_diagnostics();
    }
    // (A non-finite gradient with a finite loss at an unlogged step freezes the model on the device
    // and is reported at the next logged step, at most log_interval − 1 steps later.)
    if (!recorder.record_step(step, diag.stats, factor, diag.grad_norm, finite, {}, validation_loss)) break;  // update RMS: CPU only
  }
  // Dense products through cuBLAS, the routed experts' through the grouped tile kernel (model.cpp).
  return recorder.finish(data, {device, "cublas+grouped-tile"});
}

}  // namespace

models::TrainSummary train(const models::TrainRun& run, const models::TokenSource& data, const std::filesystem::path& out_dir) {
  const auto status = query_device();
  if (!status.usable) throw CudaError(status.message);
  return run.trainer.double_precision ? train_impl<double>(run, data, out_dir, status.message)
                                      : train_impl<float>(run, data, out_dir, status.message);
}

}  // namespace muelab::models::cuda

// CUDA training loop (see trainer.hpp); mirrors models/cpu/src/trainer.cpp row for row.
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
cpu::TrainSummary train_impl(const cpu::TrainRun& run, const cpu::TokenSource& data, const std::filesystem::path& out_dir,
                             const std::string& device) {
  const auto& m = run.target.model;
  const auto& tr = run.target.train;
  Model<T> model(cpu::make_model_spec(run.transfer, m, data.vocab_size(), tr.seq_len, run.architecture));
  model.initialize(run.trainer.seed);
  const auto hyper = cpu::group_hyperparameters(run.transfer);

  cpu::TrainingRecorder recorder(run, out_dir);
  const auto validation_loss = [&] { return cpu::mean_validation_loss(model, data, run); };

  for (std::int64_t step = 0; step < tr.steps; ++step) {
    const auto batch = data.train_batch(run.trainer.seed, step, tr.batch_size, tr.seq_len);
    const auto stats = model.forward(batch.tokens, batch.targets, tr.batch_size);
    model.backward();
    const double grad_norm = model.grad_norm();
    const double factor = run.schedule.factor(step);
    const bool finite = std::isfinite(stats.loss) && std::isfinite(grad_norm);
    if (finite) {
      model.step(run.transfer.optimizer, hyper, factor);
      model.update_balance_bias();
    }
    if (!recorder.record_step(step, stats, factor, grad_norm, finite, {}, validation_loss)) break;  // update RMS: CPU only
  }
  return recorder.finish(data, device);
}

}  // namespace

cpu::TrainSummary train(const cpu::TrainRun& run, const cpu::TokenSource& data, const std::filesystem::path& out_dir) {
  const auto status = query_device();
  if (!status.usable) throw CudaError(status.message);
  return run.trainer.double_precision ? train_impl<double>(run, data, out_dir, status.message)
                                      : train_impl<float>(run, data, out_dir, status.message);
}

}  // namespace muelab::models::cuda

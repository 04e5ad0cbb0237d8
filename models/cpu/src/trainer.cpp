// The CPU training loop (see trainer.hpp).
#include "muelab/models/cpu/trainer.hpp"
#include "muelab/models/cpu/blas.hpp"

#include <cmath>

namespace muelab::models::cpu {

namespace {

template <class Scalar>
TrainSummary train_impl(const TrainRun& run, const TokenSource& data, const std::filesystem::path& out_dir) {
  set_thread_count(run.trainer.threads);
  const auto& m = run.target.model;
  const auto& tr = run.target.train;
  Model<Scalar> model(make_model_spec(run.transfer, m, data.vocab_size(), tr.seq_len, run.architecture));
  model.initialize(run.trainer.seed);
  Optimizer<Scalar> optimizer(run.transfer.optimizer, group_hyperparameters(run.transfer));

  TrainingRecorder recorder(run, out_dir);

  const auto validation_loss = [&] { return mean_validation_loss(model, data, run); };

  for (std::int64_t step = 0; step < tr.steps; ++step) {
    const auto batch = data.train_batch(run.trainer.seed, step, tr.batch_size, tr.seq_len);
    const auto stats = model.forward(batch.tokens, batch.targets, tr.batch_size);
    model.backward();
    double grad_sq = 0.0;
    for (const auto& p : model.parameters())
      if (p.trainable) grad_sq += static_cast<double>(p.grad.squaredNorm());
    const double grad_norm = std::sqrt(grad_sq);
    const double factor = run.schedule.factor(step);
    const bool finite = std::isfinite(stats.loss) && std::isfinite(grad_norm);
    std::map<ParameterGroup, double> update_rms;
    if (finite) {
      update_rms = optimizer.step(model.parameters(), factor);
      model.update_balance_bias();
    }
    if (!recorder.record_step(step, stats, factor, grad_norm, finite, update_rms, validation_loss)) break;
  }
  return recorder.finish(data, {"cpu", gemm_engine_name(gemm_engine_for(run.trainer.double_precision))});
}

}  // namespace

TrainSummary train(const TrainRun& run, const TokenSource& data, const std::filesystem::path& out_dir) {
  return run.trainer.double_precision ? train_impl<double>(run, data, out_dir) : train_impl<float>(run, data, out_dir);
}

}  // namespace muelab::models::cpu

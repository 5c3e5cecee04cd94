{# rtrl_brian: the learner's whole step after Brian2's (rtrl_brian.learnstep.LearnStep
   renders it): spikes and refractoriness from Brian2's arrays, the generated step
   (rtrl_step.c, defined before it), the replay check, the loss and its gradient,
   gradient accumulation and the step's figures. The C++ standalone binary calls it
   (cpp_standalone/rtrl_learn.cpp), so does the compiled engine on the runtime device
   (cython/rtrl_step.pyx). C++: it times itself with std::chrono. #}
#include <chrono>
#include <cmath>
#undef D
#undef S
#undef A
#undef I
#undef P32
#undef C

/* The figures rtrl_learn writes for its step, in this order (rtrl_brian.learnstep.FIGURES). */
enum { RTRL_FIGURE_LOSS, RTRL_FIGURE_ACTIVE_FRACTION, RTRL_FIGURE_MULTIPLY_ADDS,
       RTRL_FIGURE_MULTIPLY_ADDS_DENSE, RTRL_FIGURE_BYTES, RTRL_FIGURE_ENGINE_SECONDS,
       RTRL_FIGURES };

/* One learning step. `arrays[k]`: the address of the k-th of the learner's arrays
   (rtrl_brian.learnstep.LearnStep.arrays); `addresses`, `strides`: the generated step's
   slots, bound by the caller; `n_params`, `n_columns`: parameters, and columns of the
   influence matrix (the parameters not pruned); `dense_fixed`: the dense engine's
   multiply-adds that do not depend on activity (StepProgram.dense_multiply_adds), for
   the figures (sizes are arguments: the source then depends on the network's structure
   only, not on how many synapses random connections made); `counters`: the learner's integer state
   (rtrl_brian.standalone.COUNTERS: the trial step and the steps so far are read, an
   error is written there); `data_trial`: the trial whose data the loss reads (its
   arrays hold one trial's after another), -1 where the data has none for this trial.
   Returns 0; -1 when memory for the step ran out; else the error (COUNTERS's `error`:
   1 replay, 2 non-finite state, 3 non-finite gradient, 5 data too short), learning's
   arrays then as they were but for the influence matrix. */
static int rtrl_learn(const size_t* _arrays, const size_t* _addresses,
                      const Py_ssize_t* _strides, Py_ssize_t _n_params, Py_ssize_t _n_columns,
                      int64_t _dense_fixed, int64_t* _counters, int64_t _data_trial,
                      double* _figures, rtrl_tape* _tape, int _threads)
{
    {% for name, ctype in arrays %}
    {{ctype}}* const {{name}} = ({{ctype}}*) _arrays[{{loop.index0}}];
    {% endfor %}
    {% set c = counter %}
    // -- Brian2's spikes and refractoriness this step
    {% for group, n in spiking %}
    for (size_t _i = 0; _i < {{n}}; _i++)
        _spikes_{{group}}[_i] = 0.0;
    for (int32_t _k = 0; _k < _spikespace_{{group}}[{{n}}]; _k++)
        _spikes_{{group}}[_spikespace_{{group}}[_k]] = 1.0;
    {% endfor %}
    {% for group, n, spikes in refractory %}
    for (size_t _i = 0; _i < {{n}}; _i++)
    {
        const double _after = (double) _not_refractory_{{group}}[_i];
        _nr_after_spikes_{{group}}[_i] = _after;
        {% if spikes %}
        _nr_updated_{{group}}[_i] = _after > _spikes_{{group}}[_i] ? _after : _spikes_{{group}}[_i];
        {% else %}
        _nr_updated_{{group}}[_i] = _after;
        {% endif %}
    }
    {% endfor %}
    {% for group, n in active %}
    for (size_t _i = 0; _i < {{n}}; _i++)
        _active_{{group}}[_i] = _spikes_{{group}}[_i] != 0.0;
    {% endfor %}
    // -- the generated step: replay, Jacobians, influence matrix
    long long _counts[3] = {0, 0, 0};
    const auto _engine_started = std::chrono::steady_clock::now();
    if (rtrl_step(_addresses, _strides, _n_columns, _counts, M, scale,
                  (const Py_ssize_t*) column_of, _tape, _threads) != 0)
        return -1;
    double _engine_seconds = std::chrono::duration<double>(
        std::chrono::steady_clock::now() - _engine_started).count();
    // -- the replay must end where Brian2 ended
    {% for k, n in blocks %}
    {
        int _not_finite;
        const Py_ssize_t _at = rtrl_disagreement(_state{{k}}, _brian{{k}}, {{n}},
                                                 {{replay_rtol}}, &_not_finite);
        if (_at >= 0)
        {
            _counters[{{c.error}}] = _not_finite ? 2 : 1;
            _counters[{{c.error_block}}] = {{k}};
            _counters[{{c.error_index}}] = _at;
            _counters[{{c.error_step}}] = _counters[{{c.steps_total}}];
            _counters[{{c.error_trial_step}}] = _counters[{{c.step}}];
            return (int) _counters[{{c.error}}];
        }
    }
    {% endfor %}
    // -- the loss at this step, each part's derivative by its output, and this step's
    //    gradient: dL/dy times the output's rows of the influence matrix
    const int64_t _step = _counters[{{c.step}}];
    const auto _gradient_started = std::chrono::steady_clock::now();
    for (Py_ssize_t _p = 0; _p < _n_params; _p++)
        step_grad[_p] = 0.0;
    long long _live = 0;
    double _step_loss = 0.0;
    int _short = _data_trial < 0;
    {% for blocks, n, code in loss_parts %}
    if (!_short)
    {
        {% for k, row0 in blocks %}
        const double* const _y{{loop.index0}} = _state{{k}};
        double _dloss{{loop.index0}}[{{n}}];
        {% endfor %}
        const double* const _y = _y0;  // a loss of one variable reads these
        double* const _dloss = _dloss0;
        double _loss = 0.0;
        {{code | indent(8)}}
        _step_loss += _loss;
        {% for k, row0 in blocks %}
        for (size_t _k = 0; _k < {{n}} && !_short; _k++)
        {
            const size_t _r = {{row0}} + _k;
            const double _scale = scale[_r];
            if (_scale == 0.0)
                continue;
            _live += 1;
            const double _weight = _dloss{{loop.index0}}[_k] * _scale;
            const RTRL_REAL* const _row = M + _place[_r] * _n_columns;
            if (_n_columns == _n_params)
                for (Py_ssize_t _p = 0; _p < _n_params; _p++)
                    step_grad[_p] += _weight * _row[_p];  // column p is parameter p here
            else
                for (Py_ssize_t _p = 0; _p < _n_params; _p++)  // pruned parameters have no column
                {
                    const int64_t _column = column_of[_p];
                    if (_column >= 0)
                        step_grad[_p] += _weight * _row[_column];
                }
        }
        {% endfor %}
    }
    {% endfor %}
    if (_short)
    {
        _counters[{{c.error}}] = 5;
        _counters[{{c.error_step}}] = _counters[{{c.steps_total}}];
        _counters[{{c.error_trial_step}}] = _step;
        return 5;
    }
    for (Py_ssize_t _p = 0; _p < _n_params; _p++)
        if (!std::isfinite(step_grad[_p]))
        {
            _counters[{{c.error}}] = 3;
            _counters[{{c.error_step}}] = _counters[{{c.steps_total}}];
            _counters[{{c.error_trial_step}}] = _step;
            _counters[{{c.error_index}}] = _p;
            return 3;
        }
    _engine_seconds += std::chrono::duration<double>(
        std::chrono::steady_clock::now() - _gradient_started).count();
    for (Py_ssize_t _p = 0; _p < _n_params; _p++)
    {
        grad[_p] += step_grad[_p];
        pending[_p] += step_grad[_p];
    }
    // -- the step's figures
    _figures[RTRL_FIGURE_LOSS] = _step_loss;
    {% if threshold_units %}
    long long _active_units = 0;  // units inside the surrogate's support or spiking
    {% for group, n in active %}
    for (size_t _i = 0; _i < {{n}}; _i++)
        _active_units += _active_{{group}}[_i];
    {% endfor %}
    _figures[RTRL_FIGURE_ACTIVE_FRACTION] = (double) _active_units / {{threshold_units}};
    {% else %}
    _figures[RTRL_FIGURE_ACTIVE_FRACTION] = 0.0;
    {% endif %}
    _figures[RTRL_FIGURE_MULTIPLY_ADDS] = (double) (_counts[0] + _live * _n_columns);
    _figures[RTRL_FIGURE_MULTIPLY_ADDS_DENSE] = (double) (
        _dense_fixed + _counts[2] + {{loss_rows}}LL * _n_columns);
    _figures[RTRL_FIGURE_BYTES] = (double) (_counts[1] + _live * _n_columns) * sizeof(RTRL_REAL);
    _figures[RTRL_FIGURE_ENGINE_SECONDS] = _engine_seconds;
    return 0;
}

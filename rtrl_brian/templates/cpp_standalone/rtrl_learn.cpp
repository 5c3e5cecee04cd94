{# rtrl_brian: last code object of every step under C++ standalone
   (rtrl_brian.standalone.StandaloneLearning): the generated learning step
   (rtrl_brian.codegen.StepProgram), the replay check, the loss and its
   gradient, gradient accumulation and the optimizer, on Brian2's arrays. #}
{% extends 'common_group.cpp' %}
{% block extra_headers %}
#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <iostream>
#include <cstring>
#include <vector>
typedef std::ptrdiff_t Py_ssize_t;
// the influence matrix's entries: {{ real }} (the learner's dtype)
#define RTRL_REAL {{ real }}
// the generated step (c/rtrl_step.c), defined after Brian2's support code: it may call the
// C++ implementations of functions there (a TimedArray's)
struct rtrl_tape;
static rtrl_tape* rtrl_tape_new(void);
static int rtrl_step(const size_t* addresses, const Py_ssize_t* strides, Py_ssize_t P,
                     long long* counts, RTRL_REAL* M, double* scale,
                     const Py_ssize_t* column_of, rtrl_tape* tape, int threads);
static Py_ssize_t rtrl_disagreement(const double* replayed, const double* actual,
                                    Py_ssize_t n, double rtol, int* not_finite);

namespace {
    // outgoing synapses of each presynaptic unit, in synapse order (CSR)
    struct rtrl_csr
    {
        std::vector<Py_ssize_t> outgoing, order;
        size_t n_synapses = (size_t) -1;
    };
    void rtrl_build_csr(rtrl_csr& csr, const int32_t* pre, size_t n_synapses, size_t n_pre)
    {
        if (csr.n_synapses == n_synapses)
            return;
        csr.outgoing.assign(n_pre + 1, 0);
        csr.order.assign(n_synapses > 0 ? n_synapses : 1, 0);
        for (size_t s = 0; s < n_synapses; s++)
            csr.outgoing[pre[s] + 1] += 1;
        for (size_t u = 0; u < n_pre; u++)
            csr.outgoing[u + 1] += csr.outgoing[u];
        std::vector<Py_ssize_t> next(csr.outgoing.begin(), csr.outgoing.end() - 1);
        for (size_t s = 0; s < n_synapses; s++)
            csr.order[next[pre[s]]++] = (Py_ssize_t) s;
        csr.n_synapses = n_synapses;
    }
    {% for name, n_pre, pre, size in csr %}
    rtrl_csr rtrl_csr_{{name}};
    {% endfor %}
}
{% endblock %}

{% block maincode %}
    {% set c = counter %}
    {% set P = n_params %}
    {% set C = n_columns %}  {# columns of the influence matrix: the parameters not pruned #}
    int64_t* const _counters = {{ptr['counters']}};
    const auto _started = std::chrono::steady_clock::now();
    do
    {
        {% if learning %}
        if (_counters[{{c.error}}] != 0)
            break;  // learning stopped at an earlier step; the network runs on
        // -- Brian2's spikes and refractoriness this step
        {% for spikes, space, n in spiking %}
        for (size_t _i = 0; _i < {{n}}; _i++)
            {{spikes}}[_i] = 0.0;
        for (int32_t _k = 0; _k < {{space}}[{{n}}]; _k++)
            {{spikes}}[{{space}}[_k]] = 1.0;
        {% endfor %}
        {% for group, n, spikes in refractory %}
        for (size_t _i = 0; _i < {{n}}; _i++)
        {
            const double _after = (double) {{ptr['_not_refractory_' ~ group]}}[_i];
            {{ptr['_nr_after_spikes_' ~ group]}}[_i] = _after;
            {% if spikes %}
            {{ptr['_nr_updated_' ~ group]}}[_i] = _after > {{spikes}}[_i] ? _after : {{spikes}}[_i];
            {% else %}
            {{ptr['_nr_updated_' ~ group]}}[_i] = _after;
            {% endif %}
        }
        {% endfor %}
        {% for active, spikes, n in active %}
        for (size_t _i = 0; _i < {{n}}; _i++)
            {{active}}[_i] = {{spikes}}[_i] != 0.0;
        {% endfor %}
        // -- the generated step: replay, Jacobians, influence matrix
        static size_t _addresses[{{n_slots}}];
        static Py_ssize_t _strides[{{n_slots}}];
        {% for name, n_pre, pre, size in csr %}
        rtrl_build_csr(rtrl_csr_{{name}}, {{pre}}, {{size}}, {{n_pre}});
        {% endfor %}
        {% for line in bind_lines %}
        {{line}}
        {% endfor %}
        long long _counts[3] = {0, 0, 0};
        const auto _engine_started = std::chrono::steady_clock::now();
        // the step's row operations (kept from step to step); {{threads}} thread(s) apply them
        static rtrl_tape* _tape = rtrl_tape_new();
        if (_tape == NULL || rtrl_step(_addresses, _strides, {{C}}, _counts,
                                       {{ptr['M']}}, {{ptr['scale']}},
                                       (const Py_ssize_t*) {{ptr['column_of']}}, _tape,
                                       {{threads}}) != 0)
        {
            std::cerr << "rtrl_brian: no memory for the learning step" << std::endl;
            std::exit(1);
        }
        double _engine_seconds = std::chrono::duration<double>(
            std::chrono::steady_clock::now() - _engine_started).count();
        // -- the replay must end where Brian2 ended
        int _failed = 0;
        {% for state, brian, n, k in blocks %}
        if (!_failed)
        {
            int _not_finite;
            const Py_ssize_t _at = rtrl_disagreement({{ptr[state]}}, {{ptr[brian]}}, {{n}},
                                                     {{replay_rtol}}, &_not_finite);
            if (_at >= 0)
            {
                _failed = _not_finite ? 2 : 1;
                _counters[{{c.error_block}}] = {{k}};
                _counters[{{c.error_index}}] = _at;
            }
        }
        {% endfor %}
        if (_failed)
        {
            _counters[{{c.error}}] = _failed;
            _counters[{{c.error_step}}] = _counters[{{c.steps_total}}];
            _counters[{{c.error_trial_step}}] = _counters[{{c.step}}];
            break;
        }
        // -- the loss at this step, each part's derivative by its output, and this
        //    step's gradient: dL/dy times the output's rows of the influence matrix
        const int64_t _step = _counters[{{c.step}}];
        const auto _gradient_started = std::chrono::steady_clock::now();
        double* const _step_grad = {{ptr['step_grad']}};
        for (size_t _p = 0; _p < {{P}}; _p++)
            _step_grad[_p] = 0.0;
        long long _live = 0;
        double _step_loss = 0.0;
        int _short = 0;
        {% if data_trials %}
        // trials(data=...): this trial's targets, labels and masks (none left: too short)
        const int64_t _trial_now = (_counters[{{c.steps_total}}] - {{trial_offset}}) / {{trial_steps}};
        const int64_t _data_trial = _trial_now < {{data_trials}} ? _trial_now : 0;
        if (_trial_now >= {{data_trials}})
            _short = 1;
        {% else %}
        const int64_t _data_trial = 0;
        {% endif %}
        {% for blocks, n, code in loss_parts %}
        if (!_short)
        {
            {% for state, row0 in blocks %}
            const double* const _y{{loop.index0}} = {{state}};
            double _dloss{{loop.index0}}[{{n}}];
            {% endfor %}
            const double* const _y = _y0;  // a loss of one variable reads these
            double* const _dloss = _dloss0;
            double _loss = 0.0;
            {{code | autoindent}}
            _step_loss += _loss;
            {% for state, row0 in blocks %}
            for (size_t _k = 0; _k < {{n}} && !_short; _k++)
            {
                const size_t _r = {{row0}} + _k;
                const double _scale = {{ptr['scale']}}[_r];
                if (_scale == 0.0)
                    continue;
                _live += 1;
                const double _weight = _dloss{{loop.index0}}[_k] * _scale;
                const RTRL_REAL* const _row = {{ptr['M']}} + {{ptr['_place']}}[_r] * {{C}};
                {% if C == P %}
                for (size_t _p = 0; _p < {{P}}; _p++)
                    _step_grad[_p] += _weight * _row[_p];  // column p is parameter p here
                {% else %}
                for (size_t _p = 0; _p < {{P}}; _p++)  // pruned parameters have no column
                {
                    const int64_t _column = {{ptr['column_of']}}[_p];
                    if (_column >= 0)
                        _step_grad[_p] += _weight * _row[_column];
                }
                {% endif %}
            }
            {% endfor %}
        }
        {% endfor %}
        if (_short)
        {
            _counters[{{c.error}}] = 5;
            _counters[{{c.error_step}}] = _counters[{{c.steps_total}}];
            _counters[{{c.error_trial_step}}] = _step;
            break;
        }
        for (size_t _p = 0; _p < {{P}}; _p++)
            if (!std::isfinite(_step_grad[_p]))
            {
                _counters[{{c.error}}] = 3;
                _counters[{{c.error_step}}] = _counters[{{c.steps_total}}];
                _counters[{{c.error_trial_step}}] = _step;
                _counters[{{c.error_index}}] = _p;
                break;
            }
        if (_counters[{{c.error}}] != 0)
            break;
        _engine_seconds += std::chrono::duration<double>(
            std::chrono::steady_clock::now() - _gradient_started).count();
        for (size_t _p = 0; _p < {{P}}; _p++)
        {
            {{ptr['grad']}}[_p] += _step_grad[_p];
            {{ptr['pending']}}[_p] += _step_grad[_p];
        }
        _counters[{{c.pending_steps}}] += 1;
        {{ptr['trial_loss']}}[0] += _step_loss;
        {{dynamic['loss']}}.push_back(_step_loss);
        {% if threshold_units %}
        long long _active_units = 0;  // units inside the surrogate's support or spiking
        {% for active, spikes, n in active %}
        for (size_t _i = 0; _i < {{n}}; _i++)
            _active_units += {{active}}[_i];
        {% endfor %}
        {{dynamic['active_fraction']}}.push_back((double) _active_units / {{threshold_units}});
        {% else %}
        {{dynamic['active_fraction']}}.push_back(0.0);
        {% endif %}
        {{dynamic['multiply_adds']}}.push_back((double) (_counts[0] + _live * {{C}}));
        {{dynamic['multiply_adds_dense']}}.push_back(
            (double) ({{dense_fixed}}LL + _counts[2] + {{loss_rows}}LL * {{C}}));
        {{dynamic['bytes']}}.push_back((double) (_counts[1] + _live * {{C}}) * sizeof(RTRL_REAL));
        {{dynamic['engine_seconds']}}.push_back(_engine_seconds);
        {% if optimizer %}
        // -- the optimizer, every {{update_every}} steps, on Brian2's parameter arrays
        if (_counters[{{c.pending_steps}}] >= {{update_every}})
        {
            double* const _pending = {{ptr['pending']}};
            double _factor = 1.0;
            {% if clip %}
            double _norm = 0.0;
            for (size_t _p = 0; _p < {{P}}; _p++)
                _norm += _pending[_p] * _pending[_p];
            _norm = sqrt(_norm);
            if (_norm > {{clip}})
                _factor = {{clip}} / _norm;
            {% endif %}
            _counters[{{c.optimizer_steps}}] += 1;
            {{optimizer_prepare | autoindent}}
            bool _finite = true;
            {% for param, offset, size, update in updates %}
            for (size_t _i = 0; _i < {{size}}; _i++)
            {
                const size_t _p = {{offset}} + _i;
                const double _g = _factor == 1.0 ? _pending[_p] : _pending[_p] * _factor;
                {{ptr['before_update']}}[_p] = {{param}}[_i];
                {{update | autoindent}}
                _finite = _finite && std::isfinite({{param}}[_i]);
            }
            {% endfor %}
            if (!_finite)
            {
                {% for param, offset, size in params %}
                for (size_t _i = 0; _i < {{size}}; _i++)
                    {{param}}[_i] = {{ptr['before_update']}}[{{offset}} + _i];
                {% endfor %}
                _counters[{{c.error}}] = 4;
                _counters[{{c.error_step}}] = _counters[{{c.steps_total}}];
                _counters[{{c.error_trial_step}}] = _step;
            }
            for (size_t _p = 0; _p < {{P}}; _p++)
                _pending[_p] = 0.0;
            _counters[{{c.pending_steps}}] = 0;
        }
        {% endif %}
        _counters[{{c.step}}] += 1;
        {{dynamic['step_seconds']}}.push_back(std::chrono::duration<double>(
            std::chrono::steady_clock::now() - _started).count());
        {% endif %}
    } while (false);
    _counters[{{c.steps_total}}] += 1;
{% endblock %}

{% block extra_functions_cpp %}
{{step_c}}
#undef D
#undef S
#undef A
#undef I
#undef P32
#undef C
{% endblock %}

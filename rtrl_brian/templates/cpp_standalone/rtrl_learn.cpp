{# rtrl_brian: last code object of every step under C++ standalone
   (rtrl_brian.standalone.StandaloneLearning): the learner's step (c/rtrl_learn.c:
   spikes, the generated step of rtrl_brian.codegen.StepProgram, the replay check,
   the loss and its gradient, gradient accumulation), its figures, and the
   optimizer, on Brian2's arrays. #}
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
// the learner's step (c/rtrl_step.c and c/rtrl_learn.c), defined after Brian2's support
// code: it may call the C++ implementations of functions there (a TimedArray's)
struct rtrl_tape;
static rtrl_tape* rtrl_tape_new(void);
static int rtrl_learn(const size_t* arrays, const size_t* addresses, const Py_ssize_t* strides,
                      Py_ssize_t n_params, Py_ssize_t n_columns, int64_t dense_fixed,
                      int64_t* counters, int64_t data_trial, double* figures, rtrl_tape* tape,
                      int threads);

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
        // -- bind the step's slots and the learner's arrays
        static size_t _addresses[{{n_slots}}];
        static Py_ssize_t _strides[{{n_slots}}];
        {% for name, n_pre, pre, size in csr %}
        rtrl_build_csr(rtrl_csr_{{name}}, {{pre}}, {{size}}, {{n_pre}});
        {% endfor %}
        {% for line in bind_lines %}
        {{line}}
        {% endfor %}
        static size_t _arrays[{{learn_arrays | length}}];
        {% for name in learn_arrays %}
        _arrays[{{loop.index0}}] = (size_t) {{ptr[name]}};
        {% endfor %}
        {% if data_trials %}
        // trials(data=...): this trial's targets, labels and masks (-1: none left, too short)
        const int64_t _trial_now = (_counters[{{c.steps_total}}] - {{trial_offset}}) / {{trial_steps}};
        const int64_t _data_trial = _trial_now < {{data_trials}} ? _trial_now : -1;
        {% else %}
        const int64_t _data_trial = 0;
        {% endif %}
        // -- spikes, the generated step ({{threads}} thread(s) apply its row operations),
        //    the replay check, the loss and the gradient (c/rtrl_learn.c)
        static rtrl_tape* _tape = rtrl_tape_new();
        double _figures[{{figures | length}}];  // rtrl_brian.learnstep.FIGURES
        const int _failed = _tape == NULL ? -1 :
            rtrl_learn(_arrays, _addresses, _strides, {{P}}, {{C}}, {{dense_fixed}}LL, _counters,
                       _data_trial, _figures, _tape, {{threads}});
        if (_failed < 0)
        {
            std::cerr << "rtrl_brian: no memory for the learning step" << std::endl;
            std::exit(1);
        }
        if (_failed)
            break;
        const int64_t _step = _counters[{{c.step}}];
        _counters[{{c.pending_steps}}] += 1;
        {{ptr['trial_loss']}}[0] += _figures[{{figures.index('loss')}}];
        {% for name in figures %}
        {{dynamic[name]}}.push_back(_figures[{{loop.index0}}]);
        {% endfor %}
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
{{learn_c}}
{% endblock %}

{# rtrl_brian: first code object of every step under C++ standalone
   (rtrl_brian.standalone.StandaloneSnapshot). Starts trials and copies the
   learned groups' state: the start of the learning step's replay. #}
{% extends 'common_group.cpp' %}
{% block extra_headers %}
#include <chrono>
#include <cstdio>
{% endblock %}
{% block maincode %}
    {% set c = counter %}
    int64_t* const _counters = {{ptr['counters']}};
    bool _trial_start = false;
    {% if reset_first %}
    static bool _first_step = true;  // reset_state() was called before this run
    _trial_start = _first_step;
    _first_step = false;
    {% endif %}
    {% if trial_steps %}
    if ((_counters[{{c.steps_total}}] - {{trial_offset}}) % {{trial_steps}} == 0)
    {
        _counters[{{c.trials_started}}] += 1;
        _trial_start = true;
        // trials(initial=...): where every trial starts
        {% for variable, n, value in initial %}
        for (size_t _i = 0; _i < {{n}}; _i++)
            {{variable}}[_i] = {{value}};
        {% endfor %}
    }
    {% endif %}
    if (_trial_start)
    {
        if (_counters[{{c.step}}] != 0)
            {{dynamic['trial_losses']}}.push_back({{ptr['trial_loss']}}[0]);
        {% if progress and learning and trial_steps %}
        {
            // a progress line at most every {{progress[0]}} s (RTRL.binary_progress)
            static auto _last = std::chrono::steady_clock::now();
            static const auto _first = _last;
            const auto _now = std::chrono::steady_clock::now();
            const long long _ended = (long long) ((_counters[{{c.steps_total}}] - {{trial_offset}})
                                                  / {{trial_steps}});
            if (_ended > 0 && std::chrono::duration<double>(_now - _last).count() >= {{progress[0]}})
            {
                std::printf("trial %6lld/{{progress[1]}}  loss %.4f  elapsed %.0fs\n", _ended,
                            {{ptr['trial_loss']}}[0],
                            std::chrono::duration<double>(_now - _first).count());
                std::fflush(stdout);
                _last = _now;
            }
        }
        {% endif %}
        {{ptr['trial_loss']}}[0] = 0.0;
        for (size_t _r = 0; _r < {{n_rows}}; _r++)
            {{ptr['scale']}}[_r] = 0.0;  // every row zero: no pass over the matrix
        _counters[{{c.step}}] = 0;
    }
    {% if learning %}
    {% for state, brian, n, k in blocks %}
    for (size_t _i = 0; _i < {{n}}; _i++)
        {{ptr[state]}}[_i] = (double) {{ptr[brian]}}[_i];
    {% endfor %}
    {% for group, n, spikes in refractory %}
    for (size_t _i = 0; _i < {{n}}; _i++)
        {{ptr['_nr_previous_' ~ group]}}[_i] = (double) {{ptr['_not_refractory_' ~ group]}}[_i];
    {% endfor %}
    {% endif %}
{% endblock %}

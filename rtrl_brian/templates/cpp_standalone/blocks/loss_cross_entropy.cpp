{# CrossEntropy (rtrl_brian.losses.CrossEntropy): -log softmax(y)[label] on masked steps #}
{% include "loss_mask.cpp" %}
{% if label_steps %}
if (_counted && _step >= {{label_steps}})
    _short = 1;
const int64_t _label = _short ? 0 : {{labels}}[_step];
{% else %}
const int64_t _label = {{labels}}[0];
{% endif %}
for (size_t _k = 0; _k < {{n}}; _k++)
    _dloss[_k] = 0.0;
if (_counted && !_short)
{
    double _largest = _y[0];
    for (size_t _k = 1; _k < {{n}}; _k++)
        if (_y[_k] > _largest)
            _largest = _y[_k];
    double _sum = 0.0;
    for (size_t _k = 0; _k < {{n}}; _k++)
        _sum += exp(_y[_k] - _largest);
    for (size_t _k = 0; _k < {{n}}; _k++)
        _dloss[_k] = exp(_y[_k] - _largest) / _sum;
    _loss = -log(_dloss[_label]);
    _dloss[_label] -= 1.0;
}

{# A loss summed over units, sum_k f(x_k, ..., target_k), at trial step _step on the steps
   of its mask (rtrl_brian.losses.MSE, ExpressionLoss): inputs are (C name, values) of the
   variables it reads, value f and each derivative (written to its _dloss array) are C
   expressions of those names and _loss_target #}
{% include "loss_mask.cpp" %}
for (size_t _k = 0; _k < {{n}}; _k++)
{
    {% for dloss, _ in derivatives %}
    {{dloss}}[_k] = 0.0;
    {% endfor %}
}
if (_counted && !_short)
{
    if (_step >= {{steps}})
        _short = 1;
    else
        for (size_t _k = 0; _k < {{n}}; _k++)
        {
            {% for name, values in inputs %}
            const double {{name}} = {{values}}[_k];
            {% endfor %}
            const double _loss_target = {{target}}[_step * {{n}} + _k];
            _loss += {{value}};
            {% for dloss, derivative in derivatives %}
            {{dloss}}[_k] = {{derivative}};
            {% endfor %}
        }
}

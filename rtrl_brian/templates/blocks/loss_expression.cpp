{# ExpressionLoss (rtrl_brian.losses.ExpressionLoss): sum_k f(y_k, target_k) at trial
   step _step, on the steps of its mask; f and df/dy printed from sympy #}
{% include "loss_mask.cpp" %}
for (size_t _k = 0; _k < {{n}}; _k++)
    _dloss[_k] = 0.0;
if (_counted && !_short)
{
    if (_step >= {{steps}})
        _short = 1;
    else
        for (size_t _k = 0; _k < {{n}}; _k++)
        {
            const double {{y}} = _y[_k];
            const double {{target_name}} = {{target}}[_step * {{n}} + _k];
            _loss += {{value}};
            _dloss[_k] = {{derivative}};
        }
}
